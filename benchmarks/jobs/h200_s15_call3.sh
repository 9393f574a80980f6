# session 15, call 3 (nvidia-h200), prepared in session 14 (not run yet): FlexAttention tile variants
# for the models' own attention calls (tools/tune_flex_tiles.py): pixel_base_strided's sliding and
# dilated (192 classes of 64 tokens) layers at 12,288 x 32, lm_base_longformer's first (sliding)
# and last (dilated) layers at 16k x 16, each exactly as a compiled block runs it in its graph,
# fwd+bwd, outputs and gradients checked against the default tiles. Session 14's profile: the
# backward is 3.2x (sliding) and 5x (class pieces) its forward against a ~2.5x FLOP ratio.
# Winners go into the kernel options per pattern family. Carry: .whl.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1
timeout -s ABRT 540 python3 tools/tune_flex_tiles.py --deadline 500 --out $OUT/tiles.json 2>&1 | tail -n 40
