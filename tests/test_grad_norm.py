"""The fused ZeRO gradient norm (zoo/train/grad_norm.py) against DeepSpeed's own loop on the same
gradients: a one-process ZeRO-2 engine (gloo on the CPU; NCCL on the GPU in the ``gpu`` case), after
a real backward, with one gradient made non-finite (DeepSpeed's -1 sentinel), and DeepSpeed's own
step calling it. The two-process ZeRO-2 test (test_train_deepspeed.py) trains through it too."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dist_env import one_rank_env

SCRIPT = """
import json, torch, deepspeed
from deepspeed.runtime.zero.stage_1_and_2 import DeepSpeedZeroOptimizer
from zoo.registry import create_model
from zoo.train.grad_norm import install_fused_grad_norm
deepspeed.init_distributed(dist_backend="gloo" if deepspeed.get_accelerator().device_name() == "cpu" else "nccl")
torch.manual_seed(0)
m = create_model("lm_tiny_longformer", max_seq_len=64)
cfg = {"train_micro_batch_size_per_gpu": 2, "gradient_clipping": 1.0, "zero_optimization": {"stage": 2},
       "bf16": {"enabled": True, "check_grad_overflow": False}, "zero_allow_untested_optimizer": True}
eng, *_ = deepspeed.initialize(model=m, optimizer=torch.optim.AdamW(m.parameters(), lr=1e-3), config=cfg)
opt = eng.optimizer
assert install_fused_grad_norm(opt)
x = torch.randint(0, 256, (2, 64), device=eng.device)
eng.backward(eng(input_ids=x, labels=x)["loss"])
grads, params = opt.averaged_gradients[0], opt.params_in_partition[0]
ours = opt.get_grad_norm_direct(grads, params)
theirs = DeepSpeedZeroOptimizer.get_grad_norm_direct(opt, grads, params)
out = {"n": len(grads), "ours": float(ours), "theirs": float(theirs), "device": str(eng.device),
       "norm_device": ours.device.type, "norm_dtype": str(ours.dtype)}
calls, fused = [], opt.get_grad_norm_direct
opt.get_grad_norm_direct = lambda *a, **k: calls.append(1) or fused(*a, **k)
eng.step()  # DeepSpeed's step reaches the norm through the instance attribute
out["step_calls"] = len(calls)
eng.backward(eng(input_ids=x, labels=x)["loss"])
grads, params = opt.averaged_gradients[0], opt.params_in_partition[0]
grads[1].view(-1)[0] = float("nan")
out["ours_nan"] = float(fused(grads, params))
out["theirs_nan"] = float(DeepSpeedZeroOptimizer.get_grad_norm_direct(opt, grads, params))
print("RESULT", json.dumps(out))
"""


def _run(accelerator: str) -> dict:
    env = one_rank_env(accelerator)
    env.pop("ZOO_FUSED_GRAD_NORM", None)
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def _check(r: dict, device: str) -> None:
    assert r["device"].split(":")[0] == device and r["norm_device"] == device and r["norm_dtype"] == "torch.float32"
    assert r["n"] > 10  # a real parameter list, not one flat tensor
    assert r["step_calls"] >= 1
    assert r["theirs"] > 0 and r["ours"] == pytest.approx(r["theirs"], rel=1e-5)
    assert r["theirs_nan"] == -1.0 and r["ours_nan"] == -1.0


def test_fused_grad_norm_matches_deepspeed_on_cpu():
    _check(_run("cpu"), "cpu")


@pytest.mark.gpu
def test_fused_grad_norm_matches_deepspeed_on_cuda():
    _check(_run("cuda"), "cuda")
