"""tools/bench_train.py on CPU (DeepSpeed's CPU accelerator, gloo): a sparse and a dense run of a
tiny byte LM write JSON rows with positive timings and the FLOP accounting the tool promises
(sparse model FLOPs < dense-equivalent, the dense run counts every causal pair); the pair
estimates, row appending, name resolution and the max-length search logic in process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dist_env import free_port

from zoo.attention import build
from zoo.attention.flops import count_pairs

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "bench_train.py"
sys.path.insert(0, str(ROOT / "tools"))
import bench_train as bt  # noqa: E402
import max_len_search as mls  # noqa: E402


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env.update(PYTHONPATH=str(ROOT), DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1", MASTER_PORT=str(free_port()))
    env.setdefault("TORCH_EXTENSIONS_DIR", str(ROOT / ".cache" / "torch_extensions"))
    return env


def _bench(out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(TOOL), "--model", "lm_tiny_longformer", "--seq-len", "128", "--warmup", "1",
           "--steps", "2", "--zero", "2", "--out", str(out), *extra]
    p = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p


@pytest.mark.timeout(240)
def test_sparse_and_dense_rows(tmp_path):
    out = tmp_path / "bench.json"
    out.write_text(json.dumps([{"tag": "kept"}]))  # an existing file keeps its rows
    _bench(out, "--tag", "sparse", "--profile-steps", "1")
    p = _bench(out, "--attention", "dense", "--tag", "dense")
    assert "tok/s" in p.stdout  # the table
    kept, sparse, dense = json.loads(out.read_text())
    assert kept == {"tag": "kept"}
    n, depth, heads = 128, 2, 2
    for r in (sparse, dense):
        assert not r.get("error"), r.get("traceback")
        assert r["model"] == "lm_tiny_longformer" and r["seq_len"] == r["backbone_len"] == n
        assert r["world_size"] == 1 and r["zero"] == 2 and r["micro_batch"] == 1 and r["dtype"] == "float32"
        assert r["step_ms"] > 0 and r["tokens_per_s"] > 0 and len(r["step_times_ms"]) == 2
        assert r["tokens_per_s"] == pytest.approx(n / (r["step_ms"] / 1e3))
        assert r["params"] > 0 and 0 < r["params_nonembedding"] < r["params"]
        assert r["model_tflops_per_gpu"] > 0 and r["mfu"] == pytest.approx(r["model_tflops_per_gpu"] / 790)
        assert r["attn_pairs_dense"] == depth * heads * n * (n + 1) // 2
        assert r["mem_peak_gib"] is None and r["torch"] and r["deepspeed"] and r["date"] and "--seq-len" in r["command"]
        first = r["first_step"]  # where the compiling step's time went
        assert first["forward_s"] > 0 and first["backward_and_step_s"] > 0
        assert first["forward_s"] + first["backward_and_step_s"] == pytest.approx(r["warmup_s"][0], abs=0.02)
    assert sparse["attention"] == "sliding_window" and dense["attention"] == "dense"
    prof = sparse["profile"]  # where a step's time goes (on CPU: own CPU time per op)
    assert prof["steps"] == 1 and prof["wall_ms_per_step"] > 0 and prof["gpu_busy_ms_per_step"] == 0
    assert len(prof["top_ops"]) == 15 and prof["top_ops"][0]["ms_per_call"] >= prof["top_ops"][-1]["ms_per_call"] > 0
    assert prof["top_gpu_kernels"] == [] and set(prof["gpu_ms_by_kind"].values()) == {0.0}  # no GPU here
    assert prof["gpu_ms_by_origin"] == []
    assert {"attention", "matmul", "other"} <= set(prof["gpu_ms_by_kind"])
    assert "profile" not in dense
    assert sparse["params"] == dense["params"] and dense["params_same_as_model"] is True
    assert sparse["attn_pairs"] < sparse["attn_pairs_dense"]
    assert sparse["model_flops_per_token"] < sparse["dense_equiv_flops_per_token"]
    assert sparse["model_tflops_per_gpu"] < sparse["dense_equiv_tflops_per_gpu"]
    assert dense["attn_pairs"] == dense["attn_pairs_dense"]  # the dense run needs every causal pair
    assert dense["model_flops_per_token"] == dense["dense_equiv_flops_per_token"]
    assert sparse["model_flops_per_token"] == pytest.approx(
        6 * sparse["matmul_params"] + 12 * (32 // heads) * sparse["attn_pairs"] / n)


def test_failure_is_a_row(tmp_path):
    out = tmp_path / "bench.json"
    rc = bt.main(["--model", "lm_nosuch_longformer", "--out", str(out)])
    (row,) = json.loads(out.read_text())
    assert rc == 1 and "unknown model" in row["error"] and row["oom"] is False


def test_names_and_lengths():
    assert bt.resolve_name("lm_base_longformer") == "lm_base_longformer.enwik8"
    assert bt.resolve_name("lm_tiny_dense") == "lm_tiny_dense"
    assert bt.length_plan("lm_base_longformer.enwik8", 16384)[:3] == ("max_seq_len", {"max_seq_len": 16384}, 16384)
    assert bt.length_plan("pixel_base_strided.imagenet64", 12288)[:3] == ("image_size", {}, 12288)
    assert bt.length_plan("pixel_tiny_strided", 3 * 16 * 16)[:3] == ("image_size", {"image_size": 16}, 768)
    knob, over, n, note = bt.length_plan("pixel_tiny_strided", 1000)
    assert (over, n) == ({}, 192) and "not of that form" in note
    assert bt.length_plan("vqa_tiny_dense", None)[0] == bt.FIXED_LENGTH


def test_pair_counts():
    from zoo.models import flops as mf
    n, heads = 96, 2
    strided = build("strided", causal=True, stride=8)
    assert mf.layer_pairs(strided, n, heads)[0] == count_pairs(strided, n, heads)
    dense = build("dense", causal=True)
    assert mf.layer_pairs(dense, n, heads)[:2] == (count_pairs(dense, n, heads), heads * n * (n + 1) // 2)
    assert mf.layer_pairs(build("dense"), n, heads)[0] == count_pairs(build("dense"), n, heads) == heads * n * n
    # routed patterns: the own + previous chunk band of routing.py, per sorted slot (closed form here)
    for size, chunk in ((96, 8), (100, 16)):
        sizes = [chunk] * (size // chunk) + ([size % chunk] if size % chunk else [])
        assert mf._band_pairs(size, chunk) == sum(s * (s + (sizes[i - 1] if i else 0)) for i, s in enumerate(sizes))
    lsh = build("lsh", bucket_size=8, n_hashes=2, chunk=8)
    pairs, dense_pairs, note = mf.layer_pairs(lsh, n, heads)
    assert pairs == 2 * heads * mf._band_pairs(n, 8) and dense_pairs == heads * n * n and "estimated" in note
    anchor = build("anchor", n_anchors=4, chunk=8, window=7)  # bidirectional window: |i - j| <= 3
    window = sum(min(i, 3) + min(n - 1 - i, 3) + 1 for i in range(n))
    assert mf.layer_pairs(anchor, n, heads)[0] == heads * (mf._band_pairs(n, 8) + window)


def test_append_rows(tmp_path):
    f = tmp_path / "rows.json"
    bt.append_rows(f, [{"a": 1}])
    bt.append_rows(f, [{"a": 2}])
    assert json.loads(f.read_text()) == [{"a": 1}, {"a": 2}]
    g = tmp_path / "rows.jsonl"
    g.write_text('{"a": 1}\n{"a": 2}\n')
    bt.append_rows(g, [{"a": 3}])
    assert [r["a"] for r in json.loads(g.read_text())] == [1, 2, 3]


def _fake_trials(monkeypatch, limit: int):
    seen = []

    def trial(args, seq_len, timeout):
        seen.append(seq_len)
        ok = seq_len <= limit
        return {"seq_len": seq_len, "status": "ok" if ok else "oom", "wall_s": 0.0,
                "step_ms": 1.0 if ok else None, "mem_peak_gib": 1.0 if ok else None}
    monkeypatch.setattr(mls, "_trial", trial)
    return seen


def test_max_len_search_doubles_then_bisects(monkeypatch):
    seen = _fake_trials(monkeypatch, limit=5000)
    args = bt.parse_args(["--model", "lm_tiny_strided", "--seq-len", "1024", "--max-len-search"])
    row = mls.max_len_search(args)
    assert seen[:4] == [1024, 2048, 4096, 8192] and seen[4:] == [6144, 5120]
    assert row["max_seq_len"] == 4096 and row["first_failing_seq_len"] == 5120
    assert row["max_len_status"] == "oom at 5120" and not row.get("error")
    # the cap stops the doubling; a failing start is an error row
    seen.clear()
    row = mls.max_len_search(bt.parse_args(["--model", "lm_tiny_strided", "--seq-len", "1024", "--max-len-search",
                                           "--max-len-cap", "4096"]))
    assert seen == [1024, 2048, 4096] and row["max_seq_len"] == 4096 and "max-len-cap" in row["max_len_status"]
    _fake_trials(monkeypatch, limit=100)
    row = mls.max_len_search(bt.parse_args(["--model", "lm_tiny_strided", "--seq-len", "1024", "--max-len-search"]))
    assert row["max_seq_len"] is None and "did not train" in row["error"]


def test_max_len_search_pixel_grows_the_image(monkeypatch):
    seen = _fake_trials(monkeypatch, limit=3 * 40 * 40)
    row = mls.max_len_search(bt.parse_args(["--model", "pixel_tiny_strided", "--max-len-search"]))
    sides = [round((n / 3) ** 0.5) for n in seen]
    assert sides[:4] == [8, 16, 24, 40] and all(3 * s * s == n for s, n in zip(sides, seen))
    assert row["max_seq_len"] <= 3 * 40 * 40 and row["max_image_size"] == round((row["max_seq_len"] / 3) ** 0.5)
    assert mls.max_len_search(bt.parse_args(["--model", "vqa_tiny_dense", "--max-len-search"]))["max_seq_len"] is None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_launcher_two_ranks_and_real_search(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "deepspeed.launcher.runner", "--num_gpus", "2", "--master_port", str(free_port()),
           str(TOOL), "--model", "pixel_tiny_strided", "--warmup", "1", "--steps", "2", "--zero", "3",
           "--grad-ckpt", "--micro-batch", "2", "--out", str(out)]
    p = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    (row,) = json.loads(out.read_text())
    assert not row.get("error") and row["world_size"] == 2 and row["zero"] == 3 and row["grad_ckpt"]
    assert row["tokens_per_s"] == pytest.approx(2 * 2 * 192 / (row["step_ms"] / 1e3))
    p = subprocess.run([sys.executable, str(TOOL), "--model", "lm_tiny_strided", "--seq-len", "128", "--max-len-search",
                        "--max-len-cap", "256", "--out", str(out)], cwd=ROOT, env=_env(), capture_output=True,
                       text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    row = json.loads(out.read_text())[-1]
    assert row["max_seq_len"] == 256 and [t["status"] for t in row["trials"]] == ["ok", "ok"]


def test_rows_name_the_commit_they_were_told(monkeypatch):
    """The GPU machine's copy of the tree has stale git metadata: jobs pass ZOO_CODE_COMMIT."""
    monkeypatch.setenv("ZOO_CODE_COMMIT", "abc1234")
    assert bt._git_commit() == "abc1234"
    monkeypatch.delenv("ZOO_CODE_COMMIT")
    assert bt._git_commit() != "abc1234"


def test_kernel_kinds_sort_gpu_time_by_name():
    """A profile's GPU time by kind: a kernel counts once, under the first kind its name fits."""
    from types import SimpleNamespace

    from torch.autograd import DeviceType

    from zoo.bench import kernel_kinds, top_gpu_kernels

    def ev(name, us, dev=DeviceType.CUDA):
        return SimpleNamespace(key=name, self_device_time_total=us, device_type=dev, count=2)
    prof = SimpleNamespace(key_averages=lambda: [
        ev("triton_tem_fused_flex_attention_backward_1", 3000.0), ev("nvjet_tst_128x256_h_bz", 2000.0),
        ev("sm90_xmma_gemm_bf16", 1000.0), ev("multi_tensor_apply_kernel<Adam>", 500.0),
        ev("triton_poi_fused_add_gelu_3", 400.0), ev("vectorized_layer_norm_kernel", 200.0),
        ev("Memcpy DtoD", 100.0), ev("ncclKernel_AllReduce", 60.0), ev("my_kernel", 40.0),
        ev("aten::mm", 9e9, DeviceType.CPU)])
    kinds = kernel_kinds(prof, calls=2)
    assert kinds == {"communication": 0.03, "attention": 1.5, "matmul": 1.5, "optimizer": 0.25, "copy": 0.05,
                     "norm_elementwise": 0.3, "other": 0.02}
    top = top_gpu_kernels(prof, calls=2, top=2)
    assert [t["name"] for t in top] == ["triton_tem_fused_flex_attention_backward_1", "nvjet_tst_128x256_h_bz"]
    assert top[0]["ms_per_call"] == 1.5 and top[0]["calls"] == 1


def test_kernel_origins_name_the_backward_node_or_zoo_line():
    """GPU time of CPU ops by (op, origin): the backward node an op runs in, else the innermost
    zoo frame of its stack, else its outermost parent op."""
    from types import SimpleNamespace

    from torch.autograd import DeviceType

    from zoo.bench import kernel_origins

    def op(name, us=0.0, parent=None, stack=()):
        return SimpleNamespace(name=name, self_device_time_total=us, device_type=DeviceType.CPU, cpu_parent=parent,
                               stack=list(stack))
    node = op("autograd::engine::evaluate_function: SelectBackward0")
    fill = op("aten::fill_", 300.0, op("aten::zeros", 0.0, node))
    copy_fwd = op("aten::copy_", 200.0, op("aten::reshape"), stack=["torch/nn/x.py(1): f",
                                                                     "/w/zoo/attention/attention.py(193): forward"])
    mm = op("aten::mm", 100.0, op("aten::linear"))
    prof = SimpleNamespace(events=lambda: [fill, copy_fwd, mm, op("aten::fill_", 100.0, fill.cpu_parent),
                                           op("aten::view")])
    rows = kernel_origins(prof, calls=2)
    assert rows == [dict(op="aten::fill_", origin="SelectBackward0", ms_per_call=0.2, calls=1),
                    dict(op="aten::copy_", origin="attention/attention.py(193): forward", ms_per_call=0.1, calls=0.5),
                    dict(op="aten::mm", origin="aten::linear", ms_per_call=0.05, calls=0.5)]


def test_copy_origins_name_the_copied_shape_and_its_parents():
    """aten::copy_ GPU time by (first input shape, parent chain up to a phase mark)."""
    from types import SimpleNamespace

    from torch.autograd import DeviceType

    from zoo.bench import copy_origins

    def op(name, us=0.0, parent=None, shapes=(), mark=False):
        return SimpleNamespace(name=name, self_device_time_total=us, device_type=DeviceType.CPU, cpu_parent=parent,
                               input_shapes=[list(s) for s in shapes], is_user_annotation=mark)
    phase = op("zoo::backward", mark=True)
    wrapper = op("CompiledFunctionBackward", parent=op("autograd::engine::evaluate_function: X", parent=phase))
    a = op("aten::copy_", 300.0, wrapper, shapes=[(4, 8, 16, 64), (4, 8, 16, 64)])
    b = op("aten::copy_", 100.0, wrapper, shapes=[(4, 8, 16, 64)])
    c = op("aten::copy_", 50.0, op("aten::to", parent=phase), shapes=[(3,)])
    prof = SimpleNamespace(events=lambda: [a, b, c, op("aten::mm", 900.0, wrapper)])
    assert copy_origins(prof, calls=2) == [
        dict(shape="(4, 8, 16, 64)", chain="CompiledFunctionBackward < autograd::engine::evaluate_function: X",
             ms_per_call=0.2, calls=1),
        dict(shape="(3,)", chain="aten::to", ms_per_call=0.025, calls=0.5)]


def test_gpu_idle_names_the_op_that_ended_each_gap():
    """Idle = span minus the union of kernels on all streams; each gap is charged to the op that
    launched the kernel after it, with the step phase that op ran in."""
    from types import SimpleNamespace

    from torch.autograd import DeviceType

    from zoo.bench import gpu_idle

    def ev(name, start, end, dev=DeviceType.CPU, id=0, link=0, parent=None, mark=False, kernels=()):
        return SimpleNamespace(name=name, time_range=SimpleNamespace(start=start, end=end), device_type=dev, id=id,
                               linked_correlation_id=link, cpu_parent=parent, stack=[], is_user_annotation=mark,
                               kernels=list(kernels))
    fwd, step = ev("zoo::forward", 0, 100, mark=True), ev("zoo::step", 100, 400, mark=True)
    mm = ev("aten::mm", 1, 2, id=7, parent=ev("aten::linear", 1, 3, parent=fwd), kernels=["k"])
    item, adam = ev("aten::mm", 30, 31, id=8, kernels=["k"]), ev("aten::add_", 300, 301, id=9, parent=step, kernels=["k"])
    buffer = ev("Activity Buffer Request", 1, 2, id=9)  # a profiler-internal event reusing an op's id
    kernels = [ev("gemm", 10, 50, DeviceType.CUDA, link=7), ev("gemm2", 20, 60, DeviceType.CUDA, link=8),  # overlap
               ev("adam", 310, 320, DeviceType.CUDA, link=9), ev("tiny", 322, 330, DeviceType.CUDA, link=7)]
    prof = SimpleNamespace(events=lambda: [fwd, step, mm, item, adam, buffer] + kernels)
    out = gpu_idle(prof, calls=2, min_us=5.0)
    assert out["span_ms_per_call"] == round(320 / 2e3, 2) and out["idle_ms_per_call"] == round(252 / 2e3, 2)
    assert out["by_next_op"] == [dict(op="aten::add_", origin="aten::add_", phase="step", ms_per_call=0.125, gaps=0.5)]
    assert out["by_phase"] == {"step": 0.126}  # the phase (host marks) in which the kernel after a gap ran
    gpu_bwd = ev("zoo::backward", 305, 321, DeviceType.CUDA, mark=True)  # the GPU spans of the marks win
    gpu_step = ev("zoo::step", 321, 330, DeviceType.CUDA, mark=True)
    prof = SimpleNamespace(events=lambda: [fwd, step, gpu_bwd, gpu_step, mm, item, adam, buffer] + kernels)
    assert gpu_idle(prof, calls=2)["by_phase"] == {"backward": 0.125, "step": 0.001}
    empty = gpu_idle(SimpleNamespace(events=lambda: [fwd]), calls=1)
    assert empty == {"idle_ms_per_call": 0.0, "span_ms_per_call": 0.0, "by_phase": {}, "by_next_op": []}


def test_host_vs_gpu_splits_a_step_into_phases(monkeypatch):
    """Per phase: synced wall time, host time, GPU time after a head start. Faked here: the
    'GPU' is a clock that the sleep advances, the host takes 2 ms per phase, the GPU 1 ms."""
    import step_diagnostics as sd
    clock = {"t": 0.0, "gpu": 0.0}

    def now():
        return clock["t"]

    def sync():
        clock["t"] = max(clock["t"], clock["gpu"])

    def sleep(cycles):  # 1e5 cycles per ms
        clock["gpu"] = max(clock["gpu"], clock["t"]) + cycles / 1e8

    def work():
        clock["t"] += 2e-3
        clock["gpu"] = max(clock["gpu"], clock["t"] - 1e-3) + 1e-3

    class Engine:
        def __call__(self, **kw):
            work()
            return {"loss": 0.0}

        def backward(self, loss):
            work()

        def step(self):
            work()
    monkeypatch.setattr(sd, "on_cuda", lambda: True)
    monkeypatch.setattr(sd, "sync", sync)
    monkeypatch.setattr(sd, "_sleep", sleep)
    monkeypatch.setattr(sd.time, "perf_counter", now)
    monkeypatch.setattr(sd.torch.cuda, "set_sync_debug_mode", lambda mode: None)
    out = sd.host_vs_gpu(Engine(), {}, steps=2, head_start_ms=50.0)
    assert set(out) == {"head_start_ms", "forward", "backward", "step", "sync_points"}
    for phase in ("forward", "backward", "step"):
        assert out[phase] == {"wall_ms": 2.0, "host_ms": 2.0, "gpu_ms": 1.0, "synced": "0/2"}


def test_ds_set_writes_dotted_keys_and_rejects_bad_values():
    args = bt.parse_args(["--model", "lm_tiny_dense", "--ds-set", "bf16.check_grad_overflow=true",
                          "--ds-set", "zero_optimization.reduce_bucket_size=1000"])
    cfg = bt.ds_config(args, world=1, bf16=True)
    assert cfg["bf16"] == {"enabled": True, "check_grad_overflow": True}
    assert cfg["zero_optimization"]["reduce_bucket_size"] == 1000 and cfg["zero_optimization"]["stage"] == 2
    assert bt.base_row(args)["ds_set"] == args.ds_set
    for bad in ("bf16.check_grad_overflow", "=1", "bf16.enabled=nope"):
        with pytest.raises(SystemExit):
            bt.parse_args(["--model", "lm_tiny_dense", "--ds-set", bad])


def test_bf16_runs_like_the_recipes_configs():
    """bench_train's bf16 block is configs/deepspeed/bf16.json's: the overflow check the recipes
    turn off is off here too, so benchmark rows time what training runs."""
    cfg = bt.ds_config(bt.parse_args(["--model", "lm_tiny_dense"]), world=1, bf16=True)
    assert cfg["bf16"] == {"enabled": True, "check_grad_overflow": False}
    assert bt.ds_config(bt.parse_args(["--model", "lm_tiny_dense"]), world=1, bf16=False)["bf16"] == {"enabled": False}


def test_rows_name_the_ab_switches_they_ran_with(monkeypatch):
    args = bt.parse_args(["--model", "lm_tiny_dense"])
    monkeypatch.setenv("ZOO_CODE_COMMIT", "abc1234")  # names the code, not a switch
    assert "env" not in bt.base_row(args)
    monkeypatch.setenv("ZOO_FUSED_QKV", "1")
    monkeypatch.setenv("ZOO_NO_CLASS_HEADS", "1")
    assert bt.base_row(args)["env"] == "ZOO_FUSED_QKV=1 ZOO_NO_CLASS_HEADS=1"


@pytest.mark.timeout(300)
def test_host_overhead_tool_times_both_settings(tmp_path, monkeypatch):
    """tools/bench_host_overhead.py: one round of each setting, written with its command."""
    import zoo.attention.attention as A
    monkeypatch.setattr(A, "flex_complete", A.flex_complete)  # the tool patches it; undo after
    monkeypatch.setenv("ZOO_GRAPH_ATTENTION", "0")
    monkeypatch.setenv("ZOO_GRAPH_VIEWS", "1")  # the tool sets it; undo after
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import bench_host_overhead
    out = tmp_path / "h.json"
    assert bench_host_overhead.main(["--seq-len", "256", "--depth", "2", "--reps", "1", "--rounds", "1",
                                 "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert all(len(v) == 1 and v[0] > 0 for v in doc["ms"].values()) and "--seq-len 256" in doc["command"]
