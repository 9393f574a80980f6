"""The learning-rate schedule decayed by training time (``schedule.decay_by: time``) and the run's clock."""
from __future__ import annotations

from pathlib import Path

import pytest

from zoo.train.schedule import RunClock, lr_lambda
from zoo.train.schema import RecipeError, ScheduleSpec, load_recipe

RECIPE = Path(__file__).resolve().parents[1] / "recipes/easyvqa/vqa_small_bigbird.yaml"


def _time_recipe(*extra):
    return load_recipe(RECIPE, ["schedule.steps=1000", "schedule.warmup_steps=2", "schedule.min_lr_ratio=0.1",
                                "schedule.max_minutes=1", "schedule.decay_by=time", *extra])


def test_time_decay_spans_the_budget_left_after_warmup():
    """Warmup by steps; then the cosine runs from the warmup's end (5 s) to the budget (60 s),
    whatever the step count: halfway in time is halfway down, past the budget is the floor."""
    clock = RunClock()
    f = lr_lambda(_time_recipe(), clock)
    assert f(0) == pytest.approx(0.5) and f(1) == pytest.approx(1.0)
    clock.update(5.0, 2, warmup_steps=2)
    assert clock.warmup_end_s == 5.0 and f(2) == pytest.approx(1.0)
    clock.update(32.5, 10, warmup_steps=2)
    assert f(10) == pytest.approx(0.55) and f(999) == pytest.approx(0.55)
    clock.update(60.0, 11, warmup_steps=2)
    assert f(11) == pytest.approx(0.1)
    clock.update(75.0, 12, warmup_steps=2)
    assert f(12) == pytest.approx(0.1) and clock.warmup_end_s == 5.0


def test_time_decay_without_warmup_starts_at_zero_and_linear_decays_by_time():
    clock = RunClock()
    f = lr_lambda(_time_recipe("schedule.warmup_steps=0", "schedule.decay=linear"), clock)
    clock.update(0.0, 1, warmup_steps=0)
    assert clock.warmup_end_s == 0.0 and f(1) == pytest.approx(1.0)
    clock.update(15.0, 2, warmup_steps=0)
    assert f(2) == pytest.approx(0.1 + 0.9 * 0.75)


def test_step_decay_ignores_the_clock():
    clock = RunClock(elapsed_s=59.0, warmup_end_s=0.0)
    r = load_recipe(RECIPE, ["schedule.steps=100", "schedule.warmup_steps=10", "schedule.min_lr_ratio=0.1",
                             "schedule.max_minutes=1"])
    assert lr_lambda(r, clock)(55) == pytest.approx(lr_lambda(r)(55)) == pytest.approx(0.55)


def test_clock_round_trips_through_a_checkpoint_state():
    clock = RunClock()
    clock.update(12.5, 3, warmup_steps=2)
    loaded = RunClock(elapsed_s=99.0)
    loaded.load(clock.state())
    assert loaded == clock
    loaded.load(None)
    assert loaded == RunClock()


def test_decay_by_is_checked():
    with pytest.raises(RecipeError, match="decay_by: 'clock' is not one of steps, time"):
        ScheduleSpec(steps=10, lr=1e-3, decay_by="clock")
    with pytest.raises(RecipeError, match="decay_by: time decays over schedule.max_minutes"):
        ScheduleSpec(steps=10, lr=1e-3, decay_by="time")
    with pytest.raises(ValueError, match="needs the run's clock"):
        lr_lambda(_time_recipe())
