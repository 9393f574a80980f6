"""tools/distill_report.py's across-seed summary: each arm is compared with the scratch student
of the same seed, also when that scratch run belongs to another report entry (a longer teacher)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import distill_report as R  # noqa: E402


def _task(seed, rows, teacher_steps=None):
    return {"recipe": "recipes/distill/lm_tiny_bigbird.yaml", "metric": "bits_per_char", "teacher_steps": teacher_steps,
            "resolved": {"seed": seed, "schedule": {"steps": 300}, "teacher": {"steps": None}},
            "rows": [{"arm": a, "bits_per_char": v} for a, v in rows.items()]}


def test_seed_deltas_use_the_same_seeds_scratch():
    report = {"tasks": {
        "lm": _task(0, {"teacher": 2.8, "scratch": 2.70, "kd_logits": 2.75}),
        "lm_seed1": _task(1, {"teacher": 2.9, "scratch": 2.60, "kd_logits": 2.58}, teacher_steps=300),  # = default
        "lm_teacher900": _task(0, {"teacher": 2.1, "kd_logits": 2.76}, teacher_steps=900),  # no scratch of its own
    }}
    d = R.seed_deltas(report)
    fam = R._family(report["tasks"]["lm"])
    assert abs(d[fam]["kd_logits"][0] - 0.05) < 1e-9 and abs(d[fam]["kd_logits"][1] + 0.02) < 1e-9
    assert abs(d[R._family(report["tasks"]["lm_teacher900"])]["kd_logits"][0] - 0.06) < 1e-9
    md = "\n".join(R.seeds_markdown(report))
    assert "| kd_logits | +0.0500 | -0.0200 | +0.0150 | 1 of 2 |" in md
    assert "teacher 900" not in md  # one seed only: no spread table


def test_kd_grid_arms_set_alpha_and_temperature():
    arms = R.kd_grid_arms("0.1:4,0.5:1")
    assert arms == {"kd_logits_a0.1_T4": dict(alpha=0.1, temperature=4.0, beta=0.0, layout=False),
                    "kd_logits_a0.5_T1": dict(alpha=0.5, temperature=1.0, beta=0.0, layout=False)}
    from zoo import distill as D
    recipe = D.load_recipe(R.RECIPES["lm"])
    v = R.variant(recipe, "kd_logits_a0.1_T4", arms["kd_logits_a0.1_T4"], R.Path("/tmp/x"))
    assert (v.loss.alpha, v.loss.temperature, v.loss.beta, v.layout.enabled) == (0.1, 4.0, 0.0, False)
    for bad in ("0.1", "0:2", "a:b"):
        with pytest.raises(SystemExit, match="--kd-grid"):
            R.kd_grid_arms(bad)


def test_arms_named_by_their_weights_merge_across_recipe_defaults():
    """A --kd-grid arm fixes alpha and T by its name, so its seeds merge although the recipe's
    default T changed between the runs; an arm that takes the recipe's weights stays apart."""
    def task(seed, temperature, rows):
        t = _task(seed, rows, teacher_steps=900)
        t["resolved"]["loss"] = {"alpha": 0.5, "temperature": temperature, "beta": 1.0}
        return t
    report = {"tasks": {
        "a": task(0, 1.0, {"scratch": 2.70, "kd_logits_a1_T1": 2.60, "kd_logits": 2.65}),
        "b": task(1, 2.0, {"scratch": 2.72, "kd_logits_a1_T1": 2.64, "kd_logits": 2.80}),
    }}
    arms = R.seed_deltas(report)[R._family(report["tasks"]["a"])]
    assert set(arms["kd_logits_a1_T1"]) == {0, 1}
    assert set(arms["kd_logits (alpha 0.5, T 1)"]) == {0} and set(arms["kd_logits (alpha 0.5, T 2)"]) == {1}
    assert "| kd_logits_a1_T1 | -0.1000 | -0.0800 | -0.0900 | 2 of 2 |" in "\n".join(R.seeds_markdown(report))


def test_teacher_initialised_arms_set_the_students_init(tmp_path):
    from zoo import distill as D

    recipe = D.load_recipe(R.RECIPES["lm"])
    plain = R.variant(recipe, "init_teacher", R.ARMS["init_teacher"], tmp_path)
    kd = R.variant(recipe, "init_teacher_kd", R.ARMS["init_teacher_kd"], tmp_path)
    assert plain.student.init == kd.student.init == "teacher" and recipe.student.init == "scratch"
    assert plain.loss.alpha == plain.loss.beta == 0 and kd.loss.alpha == recipe.loss.alpha > 0
    assert R.variant(recipe, "scratch", R.ARMS["scratch"], tmp_path).student.init == "scratch"
    control = R.variant(recipe, "teacher_continued", R.ARMS["teacher_continued"], tmp_path)
    assert (control.student.name, control.student.init) == (recipe.teacher.name, "teacher")
