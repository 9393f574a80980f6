# session 27, call 5 (nvidia-h200, short): the zoo's fixed models' own strides joined against their two pieces
# (benchmarks/jobs/s27_diag.py, S27_CASE=models). Carry: .whl.
source benchmarks/jobs/lib.sh
S27_CASE=models S27_DEADLINE=${S27_DEADLINE:-150} timeout -s ABRT $(left 190) python3 benchmarks/jobs/s27_diag.py \
  > $L/models.log 2>&1
keep_logs 20
grep -E "^\{" $L/models.log | cut -c1-260
