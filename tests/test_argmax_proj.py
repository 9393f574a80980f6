"""The fused projection argmax (kernels/argmax_proj.py: LSH buckets, nearest anchors) against the torch
code it replaces. On the CPU it runs under Triton's interpreter, which is chosen when triton is
imported, so the checks run as this file in a subprocess with TRITON_INTERPRET=1; on the GPU the
compiled kernel is compared at a benchmark size (gpu-marked)."""
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from zoo.attention import build, sparse_attention
from zoo.attention.anchors import AnchorRouter, assign, nearest, unit
from zoo.attention.kernels import argmax_proj as ap
from zoo.attention.routing import _hash, lsh_rotations

triton = pytest.importorskip("triton")


def _same_without_kernel(fn):
    """fn() with the kernel and with ZOO_FUSED_ROUTING=0."""
    os.environ.pop("ZOO_FUSED_ROUTING", None)
    a = fn()
    os.environ["ZOO_FUSED_ROUTING"] = "0"
    try:
        b = fn()
    finally:
        del os.environ["ZOO_FUSED_ROUTING"]
    return a, b


def check_ids():
    g = torch.Generator().manual_seed(0)
    # (B, H, N, D, groups, C): odd lengths, D not a power of two, C across several column tiles
    for B, H, N, D, G, C in [(2, 3, 201, 64, 2, 64), (1, 2, 77, 20, 3, 5), (2, 2, 130, 16, 1, 150), (1, 1, 1, 8, 2, 2)]:
        for dtype in (torch.float32, torch.bfloat16, torch.float16):
            x = torch.randn(B, H, N, D, generator=g).to(dtype)
            w = torch.randn(H, D, G * C, generator=g)
            assert ap.enabled(x)
            assert torch.equal(ap.argmax_proj(x, w, G, signed=True).long(), _hash(x, w, G)), (B, H, N, D, G, C, dtype)
            wb = torch.randn(B, H, D, G * C, generator=g)  # per-example columns (per-call k-means anchors)
            want = torch.einsum("bhnd,bhdc->bhnc", x.float(), wb).unflatten(-1, (G, C)).argmax(-1).permute(3, 0, 1, 2)
            assert torch.equal(ap.argmax_proj(x, wb, G, signed=False).long(), want)
    # a non-contiguous view (B, N, H, D) -> (B, H, N, D), as attention layers pass keys
    x = torch.randn(2, 50, 3, 32, generator=g).transpose(1, 2)
    w = torch.randn(3, 32, 70, generator=g)
    assert torch.equal(ap.argmax_proj(x, w, 1, signed=True).long(), _hash(x, w, 1))


def check_ties():
    """Exact ties (small integers) go to the first index, across column tiles and between the halves."""
    g = torch.Generator().manual_seed(1)
    x = torch.randint(-2, 3, (2, 2, 300, 16), generator=g).float()
    w = torch.randint(-2, 3, (2, 16, 2 * 150), generator=g).float()
    w[..., 140], w[..., 150 + 100] = w[..., 3], w[..., 150 + 7]  # repeats in a later tile of each round
    w[..., 20] = -w[..., 5]  # a max of one column ties the min of another (the [x w, -x w] halves)
    x[:, :, :5] = 0  # all-zero rows: every score ties
    got = ap.argmax_proj(x, w, 2, signed=True).long()
    assert torch.equal(got, _hash(x, w, 2))
    assert (got[:, :, :, :5] == 0).all()


def check_patterns():
    """lsh buckets, anchor clusters, the anchor router (eval and EMA training) and attention outputs are the
    same with the kernel and without it."""
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 4, 333, 32, generator=g) for _ in range(3))
    lsh = build("lsh", bucket_size=16, n_hashes=2, chunk=16)
    a, b = _same_without_kernel(lambda: lsh.buckets(k))
    assert a.dtype == torch.int32 and torch.equal(a.long(), b)
    rot = lsh_rotations(0, 4, 32, 2, lsh.n_buckets(333)).flatten(2)
    assert torch.equal(a, ap.argmax_proj(k, rot, 2, signed=True))
    anchor = build("anchor", n_anchors=8, chunk=16, window=8)
    anchors = torch.randn(4, 8, 32, generator=g) * 3  # not unit: nearest() normalises them
    a, b = _same_without_kernel(lambda: anchor.clusters(k, anchors))
    assert a.dtype == torch.int32 and torch.equal(a.long(), b) and torch.equal(b, assign(unit(k), anchors))
    for mode in ("eval", "train"):
        def route():
            r = AnchorRouter(4, 32, 8, seed=3)
            r.train()
            r(q, k)  # initialises by k-means
            getattr(r, mode)()
            return r(q, k)["clusters"], r.anchors.clone()
        (ca, aa), (cb, ab) = _same_without_kernel(route)
        assert torch.equal(ca.long(), cb) and torch.allclose(aa, ab, atol=1e-6), mode
    for p, state in ((lsh, {}), (anchor, {"anchors": F.normalize(anchors, dim=-1)})):
        a, b = _same_without_kernel(lambda: sparse_attention(q, k, v, p, backend="reference", **state))
        assert torch.equal(a, b), p.name


def test_interpreted_kernel_matches_torch():
    env = dict(os.environ, TRITON_INTERPRET="1")
    env.pop("ZOO_FUSED_ROUTING", None)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this checkout's zoo, not an installed one
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    res = subprocess.run([sys.executable, __file__], env=env, cwd=root, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "all checks passed" in res.stdout


def test_off_without_cuda_or_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert not ap.enabled(torch.zeros(1, 1, 4, 8))
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert ap.enabled(torch.zeros(1, 1, 4, 8))
    assert not ap.enabled(torch.zeros(1, 1, 4, 8, dtype=torch.float64))  # fp64 routing stays in torch
    assert not ap.enabled(torch.zeros(1, 1, 4, 300))  # head dim above MAX_D
    monkeypatch.setenv("ZOO_FUSED_ROUTING", "0")
    assert not ap.enabled(torch.zeros(1, 1, 4, 8))


def test_bad_w_shape_is_named():
    with pytest.raises(ValueError, match="w must be"):
        ap.argmax_proj(torch.zeros(1, 2, 4, 8), torch.zeros(3, 8, 4), 1, signed=True)


def _near_ties(got, want, scores, tol=1e-4):
    """ids (…,) from the kernel and from torch agree on >= 99.9% of rows, and where not the two picks'
    scores (…, C) in fp64 are within tol: a near-tie that another summation order may break the other way."""
    differ = got.long() != want
    assert differ.float().mean().item() < 1e-3
    if differ.any():
        pick = lambda ids: scores.gather(-1, ids.long()[..., None])[..., 0][differ]  # noqa: E731
        assert (pick(got) - pick(want)).abs().max().item() <= tol


def test_precision_choice(monkeypatch):
    """bf16x3 by default for bf16 keys on the GPU (stand-ins: precision reads is_cuda and dtype), tf32x3
    elsewhere, under Triton's interpreter, or where asked."""
    from types import SimpleNamespace
    monkeypatch.delenv("ZOO_ARGMAX_PRECISION", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    gpu = {dt: SimpleNamespace(is_cuda=True, dtype=dt) for dt in (torch.bfloat16, torch.float16, torch.float32)}
    assert [ap.precision(gpu[dt]) for dt in gpu] == ["bf16x3", "tf32x3", "tf32x3"]
    monkeypatch.setenv("TRITON_INTERPRET", "true")
    assert ap.precision(gpu[torch.bfloat16]) == "tf32x3"
    monkeypatch.delenv("TRITON_INTERPRET")
    monkeypatch.setenv("ZOO_ARGMAX_PRECISION", "tf32x3")
    assert ap.precision(gpu[torch.bfloat16]) == "tf32x3"
    k = torch.randn(1, 1, 4, 8, dtype=torch.bfloat16)
    assert ap.precision(k) == "tf32x3"
    monkeypatch.setenv("ZOO_ARGMAX_PRECISION", "bf16x3")
    assert ap.precision(k) == "tf32x3"  # bf16 dots only on the GPU (the interpreter's are wrong)
    monkeypatch.setenv("ZOO_ARGMAX_PRECISION", "fp8")
    with pytest.raises(ValueError, match="ZOO_ARGMAX_PRECISION must be one of"):
        ap.precision(k)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("prec", ap.PRECISIONS)
def test_cuda_kernel_agrees_with_fp32_torch_up_to_near_ties(monkeypatch, prec):
    """At the benchmark's shape (16k tokens, 64 x 16 heads' keys in bf16), lsh buckets and nearest anchors
    from the compiled kernel against torch's fp32 ones, at each dot precision."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.delenv("ZOO_FUSED_ROUTING", raising=False)
    monkeypatch.setenv("ZOO_ARGMAX_PRECISION", prec)
    g = torch.Generator(device="cuda").manual_seed(0)
    k = torch.randn(4, 16, 16384, 64, device="cuda", dtype=torch.bfloat16, generator=g)
    assert ap.precision(k) == prec
    rot = lsh_rotations(0, 16, 64, 2, 256, "cuda").flatten(2)
    scores = torch.einsum("bhnd,hdr->bhnr", k.double(), rot.double()).unflatten(-1, (2, -1))
    scores = torch.cat([scores, -scores], -1).permute(3, 0, 1, 2, 4)  # (rounds, B, H, N, nb)
    _near_ties(ap.argmax_proj(k, rot, 2, signed=True), _hash(k, rot, 2), scores)
    anchors = F.normalize(torch.randn(16, 64, 64, device="cuda", generator=g), dim=-1)
    assert ap.enabled(k)
    got = nearest(k, anchors)
    assert got.dtype == torch.int32  # the kernel ran
    _near_ties(got, assign(unit(k), anchors), torch.einsum("bhnd,had->bhna", unit(k).double(), anchors.double()))


if __name__ == "__main__":  # the interpreted checks (run by test_interpreted_kernel_matches_torch)
    assert os.environ.get("TRITON_INTERPRET") == "1"
    check_ids()
    check_ties()
    check_patterns()
    print("all checks passed")
