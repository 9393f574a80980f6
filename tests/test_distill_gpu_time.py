"""tools/distill_gpu_time.py end to end on the CPU (dense backend, a 2-step teacher): every arm
is timed, its output checked against the dense path, and the learned layout keeps within the
student's pair budget."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import distill_gpu_time as G  # noqa: E402


def test_distill_gpu_time_times_every_arm(tmp_path):
    out = tmp_path / "gpu"
    assert G.main(["--task", "lm", "--device", "cpu", "--backend", "dense", "--teacher-steps", "2",
                   "--tokens", "1024", "--out", str(out), "--runs", str(tmp_path / "runs")]) == 0
    doc = json.loads(out.with_suffix(".json").read_text())
    rows = {r["arm"]: r for r in doc["tasks"]["lm"]["rows"]}
    assert set(rows) == {"teacher", "student", "learned"}
    assert all(r["fwdbwd_ms"] > 0 and r["max_rel_err"] == 0 and r["B"] == 2 and r["N"] == 512 for r in rows.values())
    assert rows["learned"]["pairs_per_seq"] <= rows["student"]["pairs_per_seq"] < rows["teacher"]["pairs_per_seq"]
    assert "| learned | learned | dense |" in out.with_suffix(".md").read_text()
