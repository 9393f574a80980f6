import torch
import scratch_gpu_routing  # noqa: F401  (patches flex with the diag_bias score_mod)
from zoo.attention import build
from zoo.attention.kernels.flex import flex_attention
from zoo.attention.kernels.reference import reference_attention

dev = "cuda"
n = 257
p = build("lsh", bucket_size=64, n_hashes=2, chunk=64, causal=True)
g = torch.Generator(device=dev).manual_seed(n)
q, k, v = [torch.randn(2, 4, n, 64, device=dev, dtype=torch.float32, generator=g) for _ in range(3)]
kpm = torch.ones(2, n, dtype=torch.bool, device=dev)
kpm[0, n - n // 5:] = False
comps = p.route(q, k)
for r, c in enumerate(comps):
    of, lf = flex_attention(q, k, v, [c], scale=0.125, key_padding_mask=kpm)
    orf, lr = reference_attention(q, k, v, [c], scale=0.125, key_padding_mask=kpm)
    bad_o = ((of - orf).abs().amax(-1) > 1e-4)
    bad_l = ~torch.isclose(lf, lr, rtol=1e-5, atol=1e-3) & ~(torch.isinf(lf) & torch.isinf(lr))
    print("round", r, "bad out rows", int(bad_o.sum()), "bad lse rows", int(bad_l.sum()))
    idx = bad_l.nonzero()[:5]
    for b, h, i in idx.tolist():
        print("  ", b, h, i, "flex lse", lf[b, h, i].item(), "ref lse", lr[b, h, i].item())
of, lf = flex_attention(q, k, v, comps, scale=0.125, key_padding_mask=kpm)
orf, lr = reference_attention(q, k, v, comps, scale=0.125, key_padding_mask=kpm)
print("merged out err", (of - orf).abs().max().item())
bad = ((of - orf).abs().amax(-1) > 1e-4).nonzero()[:5]
for b, h, i in bad.tolist():
    print("  row", b, h, i, "lse flex", lf[b, h, i].item(), "ref", lr[b, h, i].item())
# no padding
of, lf = flex_attention(q, k, v, comps, scale=0.125)
orf, lr = reference_attention(q, k, v, comps, scale=0.125)
print("merged out err, no padding", (of - orf).abs().max().item())
# gradient through lse with two components
for kp in (None, kpm):
    qq, kk, vv = [t.clone().requires_grad_() for t in (q, k, v)]
    of, _ = flex_attention(qq, kk, vv, comps, scale=0.125, key_padding_mask=kp)
    gf = torch.autograd.grad(of.square().sum(), (qq, kk, vv))
    orf, _ = reference_attention(qq, kk, vv, comps, scale=0.125, key_padding_mask=kp)
    gr = torch.autograd.grad(orf.square().sum(), (qq, kk, vv))
    print("grad errs", "padded" if kp is not None else "", [round((a - b).abs().max().item() / b.abs().max().item(), 6) for a, b in zip(gf, gr)])
