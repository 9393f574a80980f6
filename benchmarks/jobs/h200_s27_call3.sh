# session 27, call 3 (nvidia-h200, short): the backward's 32-row steps in the calls with appended key copies
# (Longformer's and BigBird's global copies, fixed joined) at 64k, twice each in alternating order
# (benchmarks/jobs/s27_diag.py): whether a per-pattern choice replaces flex._key_copies_tiles' 64 rows. Carry: .whl.
source benchmarks/jobs/lib.sh
S27_DEADLINE=${S27_DEADLINE:-200} timeout -s ABRT $(left ${S27_LIMIT:-240}) python3 benchmarks/jobs/s27_diag.py \
  > $L/copies.log 2>&1
keep_logs 20
grep -E "^\{" $L/copies.log | cut -c1-260
