# session 4, call 3 (nvidia-h200, one GPU): issue #8's remaining equal-wall-clock quality runs, five
# trainings sharing the GPU at once (time-sliced; each comparison's runs compete under the same
# conditions): pixel bits/dim on easy-VQA images as 64x64 sequences (12,288 tokens; strided / fixed /
# dense) and a byte LM on the CPython standard-library sources (longformer vs dense; call 2 showed
# pydoc's 0.5 MB is memorised within minutes). Carry: .whl and data/easyvqa.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DS_BUILD_OPS=0 PYTHONFAULTHANDLER=1
L=/tmp/logs; mkdir -p $L; M=6; T=570
Z="timeout -s ABRT $T python3 -m zoo.cli"
python3 -m zoo.cli data convert pystdlib --out data/pystdlib --no-progress > $L/0_data.log 2>&1
python3 -VV >> $L/0_data.log
for p in strided fixed dense; do
  $Z train recipes/easyvqa64/pixel_small_$p.yaml --out /tmp/runs/px64_$p --set schedule.max_minutes=$M > $L/px64_$p.log 2>&1 &
done
for v in longformer dense; do
  $Z train recipes/pystdlib/lm_small_$v.yaml --out /tmp/runs/pystdlib_$v --set schedule.max_minutes=$M > $L/pystdlib_$v.log 2>&1 &
done
wait
python3 -c "import json,glob; print(json.dumps({p.split('/')[3]: json.load(open(p)) for p in glob.glob('/tmp/runs/*/metrics.json')}, indent=1, default=str))" > $OUT/quality.json
for f in $L/*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep -v "step/s," | grep -v "^\s*$" | tail -n 25; done > $OUT/logs.txt 2>&1
for f in $L/px64_*.log $L/pystdlib_*.log; do echo "=== $f"; tr '\r' '\n' < $f | grep "step/s," | awk 'NR % 40 == 0' | tail -n 12; done > $OUT/progress.txt 2>&1
tail -c 6000 $OUT/logs.txt
