"""tools/routing_quality.py on CPU: a few arms, 2 steps, a tiny held-out set, one process. The
report has a finite bits/char for every (arm, seed), equal parameter counts (LSH given its own K
projection), routed arms' keys per query under causal dense, and anchors the routers kept."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import routing_quality as rq  # noqa: E402


def test_routing_quality_report(tmp_path):
    out = tmp_path / "rq"
    arms = ["dense", "anchor_ema", "lsh_2"]
    assert rq.main(["--arms", ",".join(arms), "--steps", "2", "--seeds", "0,1", "--eval-seqs", "4",
                    "--workers", "1", "--source", "pydoc_topics", "--out", str(out)]) == 0
    r = json.loads(out.with_suffix(".json").read_text())
    assert set(r["arms"]) == set(arms) and len(r["runs"]) == 2 * len(arms)
    for a in r["arms"].values():
        assert set(a["bits_per_char"]) == {"0", "1"}
        assert all(math.isfinite(v) and 0 < v < 9 for v in a["bits_per_char"].values())
        assert math.isfinite(a["mean_bits_per_char"])
    params = {a["params"] for a in r["arms"].values()}
    assert len(params) == 1 and r["config"]["equal_params"] and params == {r["config"]["params"]}
    n = r["config"]["seq_len"]
    assert r["arms"]["dense"]["keys_per_query"] == (n + 1) / 2
    assert all(r["arms"][a]["keys_per_query"] < (n + 1) / 2 for a in ("lsh_2", "anchor_ema"))
    assert all(0 < c <= 1.0001 for c in r["arms"]["anchor_ema"]["anchor_cos_first_last"])
    assert r["conclusions"] and "anchor_ema" in out.with_suffix(".md").read_text()


def test_shared_qk_lsh_has_fewer_parameters():
    """Reformer's shared QK drops the K projection; the tool's default gives it back."""
    sizes = dict(max_seq_len=64, dim=32, depth=2, num_heads=2)
    dense = rq.n_params(rq.build_arm("dense", sizes, 0))
    assert rq.n_params(rq.build_arm("lsh_1", sizes, 0)) == dense
    assert rq.n_params(rq.build_arm("lsh_1", sizes, 0, lsh_shared_qk=True)) == dense - 2 * (32 * 32 + 32)
