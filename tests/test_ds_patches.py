"""zoo/train/ds_patches.py: DeepSpeed's ZeRO step without its host-device syncs computes what
DeepSpeed's own functions compute, function by function and over a clipped ZeRO-2 bf16 run
(values only: whether a sync happens shows on the GPU, in the profile's ``sync_points``)."""
import math
import os
from types import SimpleNamespace

import pytest
import torch

os.environ.setdefault("DS_ACCELERATOR", "cpu")
deepspeed = pytest.importorskip("deepspeed")
from deepspeed.runtime import utils as ds_utils  # noqa: E402
from deepspeed.runtime.zero import stage_1_and_2 as z  # noqa: E402

from zoo.train import ds_patches  # noqa: E402


def _originals():
    ds_patches.apply()
    return ds_utils.mask_nan_or_inf_with_val_inplace, ds_patches._original["unscale_and_clip_grads"]


pytestmark = pytest.mark.skipif(deepspeed.__version__.split("+")[0] not in ds_patches.CHECKED,
                                reason="the patch applies to the DeepSpeed version it was checked against")


def test_apply_installs_both_replacements_once():
    assert ds_patches.apply() and ds_patches.apply()  # idempotent
    assert z.mask_nan_or_inf_with_val_inplace is ds_patches.mask_nan_or_inf
    assert z.DeepSpeedZeroOptimizer.unscale_and_clip_grads is ds_patches.unscale_and_clip_grads
    assert ds_patches._original["unscale_and_clip_grads"] is not ds_patches.unscale_and_clip_grads


def test_a_b_switch_and_other_versions_keep_deepspeeds_step(monkeypatch):
    monkeypatch.setattr(ds_patches, "_original", {})
    monkeypatch.setenv("ZOO_DS_STEP_SYNCS", "1")
    assert ds_patches.apply() is False
    monkeypatch.delenv("ZOO_DS_STEP_SYNCS")
    monkeypatch.setattr(deepspeed, "__version__", "0.19.7")
    assert ds_patches.apply() is False and ds_patches._original == {}


def test_mask_matches_deepspeed():
    original, _ = _originals()
    x = torch.tensor([1.5, float("nan"), float("inf"), -float("inf"), 0.0, -2.0])
    a, b = x.clone(), x.clone()
    original(a, device="cpu")
    ds_patches.mask_nan_or_inf(b, device="cpu")
    assert torch.equal(a, b) and b.tolist() == [1.5, -1.0, -1.0, -1.0, 0.0, -2.0]


@pytest.mark.parametrize("norm", [0.3, 1.0, 7.5, -1.0, math.inf, math.nan])
@pytest.mark.parametrize("clip,scale", [(1.0, 1.0), (0.5, 4.0), (0.0, 2.0), (0.0, 1.0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_unscale_and_clip_matches_deepspeed(norm, clip, scale, dtype):
    """Clipped, unclipped, the -1 sentinel and non-finite norms (scaled to zero), with and
    without a loss scale, on a flat gradient and on a list of sub-partitions."""
    _, original = _originals()
    me = SimpleNamespace(clip_grad=clip, loss_scale=scale, device="cpu")
    g = torch.randn(2, 5, generator=torch.Generator().manual_seed(0))
    a, b = [g[0].clone(), [g[1].clone()]], [g[0].clone(), [g[1].clone()]]
    original(me, a, torch.tensor(norm, dtype=dtype))
    ds_patches.unscale_and_clip_grads(me, b, torch.tensor(norm, dtype=dtype))
    torch.testing.assert_close(a[0], b[0], rtol=1e-6, atol=0)
    torch.testing.assert_close(a[1][0], b[1][0], rtol=1e-6, atol=0)


ZERO2_STEPS = """
import torch, deepspeed
from zoo.registry import create_model
from zoo.train import ds_patches
print("patched", ds_patches.apply())
torch.manual_seed(0)
m = create_model("lm_tiny_longformer")
cfg = {"train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 1, "gradient_clipping": 0.05,
       "zero_optimization": {"stage": 2}, "bf16": {"enabled": True, "check_grad_overflow": False},
       "zero_allow_untested_optimizer": True}
eng, *_ = deepspeed.initialize(model=m, optimizer=torch.optim.AdamW(m.parameters(), lr=1e-2), config=cfg)
batch = m.dummy_inputs(batch_size=2)
for _ in range(3):
    out = eng(**batch)
    eng.backward(out["loss"])
    eng.step()
    print("loss", float(out["loss"]), "norm", float(eng.get_global_grad_norm()))
print("weights", sum(float(p.double().sum()) for p in m.parameters()))
"""


def test_a_zero2_bf16_run_with_clipping_is_bit_identical_to_deepspeeds_own():
    """Three clipped ZeRO-2 bf16 steps (norms far above the clip) with and without the patch:
    the same losses, norms and weights to the last bit."""
    from test_train_deepspeed import run_one_rank
    outs = []
    for keep in ("1", "0"):
        run = run_one_rank(ZERO2_STEPS, ZOO_DS_STEP_SYNCS=keep)
        assert run.returncode == 0, run.stderr[-3000:]
        outs.append([line for line in run.stdout.splitlines() if line.startswith(("patched", "loss", "weights"))])
    assert outs[0][0] == "patched False" and outs[1][0] == "patched True"
    norms = [float(line.split()[-1]) for line in outs[1] if line.startswith("loss")]
    assert len(norms) == 3 and min(norms) > 0.05  # every step clipped
    assert outs[0][1:] == outs[1][1:]
