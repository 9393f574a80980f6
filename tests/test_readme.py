"""The README's generated tables match the registry, the patterns and the committed benchmarks."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_is_current():
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "update_readme.py"), "--check"],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr


def test_readme_opens_with_the_two_commands():
    head = (ROOT / "README.md").read_text().split("\n")[:8]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_attention_plot_renders_committed_benchmark(tmp_path):
    import json

    from zoo.bench import attention_plot
    doc = json.loads((ROOT / "benchmarks" / "attention_h200.json").read_text())
    attention_plot(doc, str(tmp_path / "a.png"))
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_latest_skips_profile_rows():
    """A kernel profile row names impl/pattern/N like a timing row but carries no times."""
    from zoo.bench import latest
    timed = dict(impl="zoo", pattern="strided", N=16384, fwdbwd_ms=4.4)
    doc = {"runs": [{"path": "components", "rows": [timed]},
                    {"path": "components", "rows": [dict(impl="zoo", pattern="strided", N=16384, profile=[])]}]}
    row, run = latest(doc, impl="zoo", pattern="strided", N=16384)
    assert row is timed and run is doc["runs"][0]


def test_superseded_rows_give_no_times():
    """A row of a path the dispatcher no longer takes stays in its run's table but not in the summaries."""
    from zoo.bench import attention_runs_markdown, latest
    old = dict(impl="zoo", pattern="bigbird", N=16384, fwdbwd_ms=3.0)
    doc = {"gpu": "g", "torch": "t", "triton": "tr", "shapes": "s",
           "runs": [{"path": "fused", "note": "a", "command": "c", "date": "d", "rows": [old]},
                    {"path": "fused", "note": "b", "command": "c", "date": "d",
                     "rows": [dict(old, fwdbwd_ms=4.0, superseded="split rows, default at abc only")]}]}
    row, _ = latest(doc, impl="zoo", pattern="bigbird", N=16384)
    assert row is old
    md = attention_runs_markdown(doc)
    assert "zoo (superseded path)" in md and "split rows, default at abc only" in md


def test_peer_table_shows_newest_and_range():
    from zoo.bench import peers_summary
    runs = [{"path": "p", "rows": [dict(impl="hf_reformer", pattern="lsh", fwdbwd_ms=8.0, peak_mem_gib=1.0),
                                   dict(impl="zoo_module", peer_of="hf_reformer", fwdbwd_ms=d, peak_mem_gib=0.5)]}
            for d in (2.0, 4.0, 8.0)]
    row = peers_summary({"runs": runs}, last=2).splitlines()[-1]
    assert "| 8.00 (0.50) | 1.0x (run 3) | 1.0-2.0x (3, 2) | – | – |" in row  # newest run; the range over the last two
    runs[1]["rows"].append(dict(impl="zoo_module_graphed", peer_of="hf_reformer", fwdbwd_ms=1.0))
    row = peers_summary({"runs": runs}, last=2).splitlines()[-1]
    assert row.endswith("| 1.00 (run 2) | 8.0x vs eager (no capture) 8.00 ms |")  # ours graphed vs the eager peer
    runs[1]["rows"].append(dict(impl="hf_reformer_graphed", peer_of="hf_reformer", fwdbwd_ms=6.0))
    runs[2]["rows"].append(dict(impl="zoo_module_graphed", peer_of="hf_reformer", fwdbwd_ms=2.0, error="capture"))
    row = peers_summary({"runs": runs}, last=2).splitlines()[-1]
    assert row.endswith("| 1.00 (run 2) | 6.0x vs its graphs 6.00 ms |")  # both graphed; failed captures skipped
