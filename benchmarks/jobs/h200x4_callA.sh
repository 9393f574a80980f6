# lease 1 of 2026-11-28 (nvidia-h200-x4): correctness on GPUs 0-1, attention speed on GPUs 2-3
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 TORCHINDUCTOR_COMPILE_THREADS=1
nvidia-smi -L; nproc
A=dense,sliding_window,dilated_window,dilated_window_per_head,longformer,bigbird,strided,strided_split
B=fixed,fixed_split,learned,union,intersection,prefix_lm,lsh,anchor
CUDA_VISIBLE_DEVICES=0 python3 tools/gpu_correctness.py --workers 26 --deadline 440 --patterns $A --out $OUT/corr_a.json > $OUT/corr_a.log 2>&1 &
CUDA_VISIBLE_DEVICES=1 python3 tools/gpu_correctness.py --workers 26 --deadline 440 --patterns $B --out $OUT/corr_b.json > $OUT/corr_b.log 2>&1 &
CUDA_VISIBLE_DEVICES=2 python3 tools/bench_attention.py --patterns sliding_window,dilated_window,longformer,bigbird --no-long --peers-first --deadline 400 --out $OUT/bench_a > $OUT/bench_a.log 2>&1 &
CUDA_VISIBLE_DEVICES=3 python3 tools/bench_attention.py --patterns strided,fixed,lsh,anchor --no-peers --no-sdpa --deadline 400 --out $OUT/bench_b > $OUT/bench_b.log 2>&1 &
wait
tail -25 $OUT/corr_a.log $OUT/corr_b.log; tail -8 $OUT/bench_a.log $OUT/bench_b.log
