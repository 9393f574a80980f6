"""Session 28 diagnosis (run by h200_s28_call1.sh): what limits each pattern that misses issue #3's goal of 200
useful TFLOP/s (100 for lsh / anchor) at the attention benchmark's shapes (H = 16, D = 64, bf16, B = 65,536 // N),
so the closing note can name the limit with a number. Per case, same process: forward and forward+backward ms
(diag.measure) and one forward+backward's GPU time by kind of kernel (FlexAttention, the routing kernel, sorts,
the rest: copies, gathers, merges, elementwise). Also: the GPU's copy bandwidth (the memory floor of a call that
must read q, k, v, o, dO and write o, dQ, dK, dV), Longformer without its global tokens (its sliding window
alone, so the globals' cost is the difference) and Longformer's global copies (kernels/global_copies.py) at 16k
with SPLIT 1,024 / 2,048 / 4,096 against the one BlockMask the dispatcher runs there. S28_DEADLINE (seconds)
stops starting new cases. Writes $OUT/s28_limits.json.
S28_CASE=appended (call 2): the appends of fixed joined and of the global copies as kernels/appended.py's
autograd Function outside the compiled graph (the copies' gradients added in place) against session 27's one
graph (the appends inside it), alternating twice, same process, with a profile of each. Writes
$OUT/s28_appended.json. (Call 2's inputs were made again per variant with another dO, so its err_grads compare
different gradients; diag.bench_inputs draws dO from its generator since.)
S28_CASE=appended2 (call 3): the same with call 2's Function (eager gather and cat, index_add_ in the backward)
as ``appended_v1`` beside the default since (one compiled gather-and-cat kernel, index_copy_ of the summed rows).
Writes $OUT/s28_appended2.json.
S28_CASE=position (call 4): fixed joined's kernel mask reading the summary keys' positions in closed form
(Fixed.joined_position, shifts) against reading them from the pos table (joined_position None), alternating
twice, at the benchmark's 16k / 64k and the zoo's fixed models' strides. Writes $OUT/s28_position.json.
S28_CASE=masks (call 5): the component and class-head masks with natural positions and all heads as arithmetic
(flex._mask_mod, classes.class_mask_mod) against session 27's table reads (old_mask_mod, old_class_mask_mod
below), alternating twice: strided and dilated at 16k / 64k, pixel_base_strided.imagenet64's strided(192) at
12,288. Writes $OUT/s28_masks.json."""
import os
import sys
import time

import torch

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diag import bench_inputs, kernel_events, measure, note, save  # noqa: E402
from tools.bench_attention import cases, fwd_bwd, routing_state, timeit  # noqa: E402
from zoo.attention import build, sparse_attention  # noqa: E402
from zoo.attention.flops import block_pairs  # noqa: E402
from zoo.attention.kernels import appended, flex, global_copies, joined  # noqa: E402
from zoo.attention.sparse_transformer import Fixed  # noqa: E402
from zoo.attention.kernels.block_mask import flex_lse, one_graph  # noqa: E402

H, D = 16, 64
DEADLINE = time.time() + float(os.environ.get("S28_DEADLINE", "1e9"))


def kind(name: str) -> str:
    """FlexAttention's kernels (forward, backward and its preprocess), the routing kernel (argmax_proj.py's Triton
    ``_kernel``), sorts, or other (copies, gathers, merges, elementwise)."""
    if "flex_attention" in name:
        return "attention"
    if name == "_kernel":
        return "routing"
    return "sort" if "sort" in name.lower() else "other"


def profile_kinds(name, n, fn, top=8):
    """GPU ms of one call of fn by kind of kernel, and its top kernels."""
    ev = kernel_events(fn)
    by_kind = {}
    for e in ev:
        by_kind[kind(e.key)] = round(by_kind.get(kind(e.key), 0) + e.device_time_total / 1e3, 3)
    note(N=n, pattern=name, what="profile_fwdbwd", gpu_ms=round(sum(by_kind.values()), 3), by_kind=by_kind,
         kernels=[(e.key[:80], round(e.device_time_total / 1e3, 3), e.count) for e in ev[:top]])


def bandwidth():
    """Device copy bandwidth (GB/s, read + write) on 1 GiB."""
    x = torch.empty(2**29, dtype=torch.bfloat16, device="cuda")
    y = torch.empty_like(x)
    ms = timeit(lambda: y.copy_(x))
    note(what="copy_bandwidth", gib=1, ms=ms, gb_per_s=round(2 * 2**30 / ms / 1e6, 1))
    del x, y


def copies_split(split):
    def setup():
        global_copies.SPLIT, global_copies.MIN_TOKENS = split, 0
    return setup


def dispatcher():
    global_copies.SPLIT, global_copies.MIN_TOKENS = 1024, 65536


P = cases()
LONGFORMER_LOCAL = build("sliding_window", left=P["longformer"].window // 2, right=P["longformer"].window // 2,
                         causal=False)
CASES = [  # (name, n, pattern, setup, profile?)
    ("longformer", 16384, P["longformer"], dispatcher, True),
    ("longformer_without_globals", 16384, LONGFORMER_LOCAL, dispatcher, True),
    ("longformer_copies_4096", 16384, P["longformer"], copies_split(4096), True),
    ("longformer_copies_2048", 16384, P["longformer"], copies_split(2048), False),
    ("longformer_copies_1024", 16384, P["longformer"], copies_split(1024), False),
    ("longformer_again", 16384, P["longformer"], dispatcher, False),
    ("fixed", 16384, P["fixed"], dispatcher, True),
    ("strided", 16384, P["strided"], dispatcher, True),
    ("lsh", 16384, P["lsh"], dispatcher, True),
    ("anchor", 16384, P["anchor"], dispatcher, True),
    ("sliding_window", 16384, P["sliding_window"], dispatcher, True),
    ("longformer", 65536, P["longformer"], dispatcher, True),
    ("longformer_without_globals", 65536, LONGFORMER_LOCAL, dispatcher, True),
    ("strided", 65536, P["strided"], dispatcher, True),
    ("lsh", 65536, P["lsh"], dispatcher, True),
    ("anchor", 65536, P["anchor"], dispatcher, True),
]



def one_graph_joined(q, k, v, pos, block_mask, scale, kernel_options, flex=None):
    """Session 27's joined.attention: the appends inside the compiled graph."""
    from torch.nn.attention.flex_attention import flex_attention
    kw = {"kernel_options": kernel_options} if kernel_options else {}
    kx, vx = (torch.cat([x, x.index_select(2, pos)], 2) for x in (k, v))
    return flex_lse(flex or flex_attention, q, kx, vx, block_mask=block_mask, scale=scale, **kw)


def one_graph_copies(q, k, v, p, block_mask, scale, kernel_options, flex=None):
    """Session 27's global_copies.attention: the appends inside the compiled graph."""
    def app(x, slot, copies):
        return torch.cat([x, x[:, :, :slot].repeat(1, 1, copies, 1)], 2) if copies else x
    qx, kx, vx = app(q, p.row_slot, p.row_copies), app(k, p.col_slot, p.col_copies), app(v, p.col_slot, p.col_copies)
    return global_copies.attend_merged(qx, kx, vx, p, block_mask, scale, kernel_options, flex)


class AppendedV1(appended._Appended):
    """Call 2's Function: eager gather and cat, index_add_ of the copies' gradients."""

    @staticmethod
    def forward(ctx, x, index, slot, repeats):
        ctx.n, ctx.slot, ctx.repeats = x.shape[2], slot, repeats
        ctx.save_for_backward(index)
        return appended._with_copies(x, index, slot, repeats)

    @staticmethod
    def backward(ctx, g):
        index, = ctx.saved_tensors
        gx, extra = g[:, :, :ctx.n], g[:, :, ctx.n:]
        if index is None:
            gx[:, :, :ctx.slot] += extra.unflatten(2, (ctx.repeats, ctx.slot)).sum(2)
        else:
            gx.index_add_(2, index, extra)
        return gx, None, None, None


NEW = (joined.compiled_attention, global_copies.compiled_attention, joined.append_rows, global_copies.append_repeats)


def appends(inside, v1=False):
    def setup():
        joined.compiled_attention, global_copies.compiled_attention, joined.append_rows, \
            global_copies.append_repeats = NEW
        if inside:
            joined.compiled_attention = lambda: one_graph(one_graph_joined)
            global_copies.compiled_attention = lambda: one_graph(one_graph_copies)
        elif v1:
            joined.append_rows = lambda x, index: AppendedV1.apply(x, index, 0, 0)
            global_copies.append_repeats = lambda x, slot, r: AppendedV1.apply(x, None, slot, r) if r else x
    return setup


CLOSED_FORM = Fixed.joined_position


def position(closed):
    def setup():
        Fixed.joined_position = CLOSED_FORM if closed else (lambda self: None)
        flex._joined_structure.cache_clear()  # the BlockMask carries the kernel's mask_mod
    return setup


def old_mask_mod(comp, g, key_padding_mask, q0=0, k0=0):
    """Session 27's flex._mask_mod: positions and heads read from tables."""
    q_at, k_at = flex._lookup(g.q_abs, g.q.shape[2]), flex._lookup(g.k_abs, g.k.shape[2])
    heads, bufs, mask_fn, kpm = g.heads, comp.buffers_on(g.q.device), comp.mask, key_padding_mask
    no_self = bool(comp.diag_bias)

    def mask_mod(b, h, qi, ki):
        qa, ka = q_at(b, h, qi), k_at(b, h, ki)
        ok = mask_fn(b, heads[h], qa, ka, *bufs) & (qa >= 0) & (ka >= 0)
        if no_self:
            ok = ok & (qa != ka)
        if kpm is not None:
            ok = ok & kpm[b, ka.clamp(min=0)]
        return ok
    return mask_mod


def old_class_mask_mod(comp, r, heads, key_padding_mask, layout="batch"):
    """Session 27's classes.class_mask_mod: heads read from a table."""
    bufs, mask_fn, kpm, hc = comp.buffers_on(heads.device), comp.mask, key_padding_mask, heads.shape[0]

    def mask_mod(bh, ch, tq, tk):
        if layout == "batch":
            b, h, c = bh // hc, heads[bh % hc], ch
        else:
            b, h, c = bh, heads[ch % hc], ch // hc
        qa, ka = tq * r + c, tk * r + c
        ok = mask_fn(b, h, qa, ka, *bufs)
        return ok if kpm is None else ok & kpm[b, ka]
    return mask_mod


NEW_MASKS = (flex._mask_mod, flex.class_mask_mod)


def masks(old, p, n):
    def setup():
        flex._mask_mod, flex.class_mask_mod = (old_mask_mod, old_class_mask_mod) if old else NEW_MASKS
        for c in p.components(n, n, H):
            c._cache.clear()  # the cached BlockMasks carry the mask_mod
    return setup


OUT_NAME = "s28_limits.json"
if os.environ.get("S28_CASE") == "appended":
    OUT_NAME = "s28_appended.json"
    CASES = [(f"{name}_{var}", n, p, appends(var.startswith("one_graph")), not var.endswith("again"))
             for name, n, p in (("fixed", 16384, P["fixed"]), ("fixed", 65536, P["fixed"]),
                                ("fixed_s192_c16", 12288, build("fixed", stride=192, summary=16, causal=True)),
                                ("longformer", 65536, P["longformer"]), ("bigbird", 65536, P["bigbird"]))
             for var in ("one_graph", "appended", "one_graph_again", "appended_again")]
elif os.environ.get("S28_CASE") == "appended2":
    OUT_NAME = "s28_appended2.json"
    CASES = [(f"{name}_{var}", n, p, appends(var.startswith("one_graph"), var.startswith("appended_v1")),
              var == "appended")
             for name, n, p in (("fixed", 16384, P["fixed"]), ("fixed", 65536, P["fixed"]),
                                ("fixed_s192_c16", 12288, build("fixed", stride=192, summary=16, causal=True)),
                                ("longformer", 65536, P["longformer"]), ("bigbird", 65536, P["bigbird"]))
             for var in ("one_graph", "appended_v1", "appended", "one_graph_again", "appended_again")]
elif os.environ.get("S28_CASE") == "position":
    OUT_NAME = "s28_position.json"
    CASES = [(f"{name}_{var}", n, p, position(var.startswith("closed")), False)
             for name, n, p in (("fixed", 16384, P["fixed"]), ("fixed", 65536, P["fixed"]),
                                ("fixed_s192_c16", 12288, build("fixed", stride=192, summary=16, causal=True)),
                                ("fixed_s96_c16", 3072, build("fixed", stride=96, summary=16, causal=True)))
             for var in ("table", "closed", "table_again", "closed_again")]
elif os.environ.get("S28_CASE") == "masks":
    OUT_NAME = "s28_masks.json"
    CASES = [(f"{name}_{var}", n, p, masks(var.startswith("tables"), p, n), False)
             for name, n, p in (("strided", 16384, P["strided"]), ("strided", 65536, P["strided"]),
                                ("dilated_window", 16384, P["dilated_window"]),
                                ("dilated_window", 65536, P["dilated_window"]),
                                ("strided_s192", 12288, build("strided", stride=192, causal=True)))
             for var in ("tables", "arithmetic", "tables_again", "arithmetic_again")]
else:
    bandwidth()
refs = {}
for name, n, p, setup, prof in CASES:
    if time.time() > DEADLINE:
        note(N=n, pattern=name, skipped="deadline")
        continue
    setup()
    q, k, v, do = bench_inputs(n, H, D)
    state = routing_state(p, "cuda")
    fn = lambda: sparse_attention(q, k, v, p, backend="flex", **state)  # noqa: E731
    extra = {}
    if not p.data_dependent:
        extra["block_pairs_per_seq"] = block_pairs(p, n, H, device="cuda")
    # the appended case: each variant against the first of its pattern (same seed, same inputs)
    refs[(id(p), n)] = measure(fn, q, k, v, do, refs.get((id(p), n)), N=n, B=q.shape[0], pattern=name, **extra)
    if prof:
        try:
            profile_kinds(name, n, fwd_bwd(fn, (q, k, v), do))
        except Exception as ex:  # noqa: BLE001 - a failing profile is a row, not the end of the job
            note(N=n, pattern=name, what="profile_fwdbwd", error=repr(ex)[:400])
    del q, k, v, do
dispatcher()
appends(False)()
position(True)()
flex._mask_mod, flex.class_mask_mod = NEW_MASKS
save(OUT_NAME)
