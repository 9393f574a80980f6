"""caption_scores must reproduce pycocoevalcap exactly (same tokenizer, same scorers)."""
import logging
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("pycocoevalcap")
pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap needs Java")

from zoo.eval import caption_scores, spice_available  # noqa: E402

REFS = {
    1: ["A dog runs on the green grass.", "a brown dog running in a field",
        "The dog is running across a lawn."],
    2: ["Two people ride bikes down a street.", "two cyclists on a city road",
        "People riding bicycles on the street."],
    3: ["A plate of food with broccoli and rice.", "a dish of rice, broccoli and chicken"],
    "img-4": ["A small blue circle in the bottom right.", "a blue circle, bottom right"],
    5: ["a man holding an umbrella in the rain", "A person with an umbrella walks in rain.",
        "someone under a black umbrella on a rainy day", "a man walks in the rain"],
}
CANDS = {
    1: "a dog running on grass",
    2: "two people riding bicycles on a road",
    3: "a plate of rice and broccoli",
    "img-4": "a small blue circle at the bottom right",
    5: "a man with an umbrella in the rain",
}


def _direct():
    """What a user of pycocoevalcap would write by hand (COCOEvalCap.evaluate, minus SPICE)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in REFS.items()})
    res = tok.tokenize({k: [{"caption": c}] for k, c in CANDS.items()})
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out = {f"BLEU-{i + 1}": b for i, b in enumerate(bleu)}
    out["METEOR"] = Meteor().compute_score(gts, res)[0]
    out["ROUGE-L"] = Rouge().compute_score(gts, res)[0]
    out["CIDEr-D"] = Cider().compute_score(gts, res)[0]
    return out


def test_scores_equal_pycocoevalcap_direct():
    # Both sides start a METEOR JVM (seconds each): run them side by side.
    with ThreadPoolExecutor(1) as pool:
        direct = pool.submit(_direct)
        ours = caption_scores(CANDS, REFS, metrics=("BLEU", "METEOR", "ROUGE-L", "CIDEr-D"))
        ref = direct.result()
    assert list(ours) == ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D"]
    for k, v in ref.items():
        assert isinstance(ours[k], float)
        assert ours[k] == pytest.approx(float(v), rel=1e-12, abs=1e-12), k
    assert 0 < ours["BLEU-4"] < ours["BLEU-1"] <= 1
    assert 0 < ours["METEOR"] < 1 and 0 < ours["ROUGE-L"] < 1 and ours["CIDEr-D"] > 0


def test_bleu_of_identical_captions_is_one():
    refs = {i: [c] for i, c in enumerate(
        ["a black cat sleeps on a red sofa", "two dogs play with a ball in the park",
         "a large green triangle in the top left corner"])}
    cands = {i: r[0] for i, r in refs.items()}
    s = caption_scores(cands, refs, metrics=("BLEU", "ROUGE-L"))
    for n in range(1, 5):
        assert s[f"BLEU-{n}"] == pytest.approx(1.0, abs=1e-6)
    assert s["ROUGE-L"] == pytest.approx(1.0)


def test_tokenisation_ignores_case_and_punctuation():
    a = caption_scores({1: "A Dog, running!"}, {1: ["a dog running"]}, metrics=("BLEU",))
    assert a["BLEU-3"] == pytest.approx(1.0, abs=1e-6)


def test_bad_inputs_raise_clearly():
    with pytest.raises(ValueError, match="non-empty"):
        caption_scores({}, {})
    with pytest.raises(ValueError, match="ids differ"):
        caption_scores({1: "a dog"}, {2: ["a dog"]})
    with pytest.raises(ValueError, match="non-empty list"):
        caption_scores({1: "a dog"}, {1: []})
    with pytest.raises(ValueError, match="unknown caption metrics"):
        caption_scores({1: "a dog"}, {1: ["a dog"]}, metrics=("BLEU", "WER"))


def test_spice_is_skipped_with_a_message_when_corenlp_is_missing(caplog):
    ok, why = spice_available()
    if ok:
        pytest.skip("Stanford CoreNLP is installed here: SPICE would run")
    assert "SPICE skipped" in why and "never downloads" in why
    with caplog.at_level(logging.WARNING, logger="zoo.eval"):
        s = caption_scores({1: "a dog"}, {1: ["a dog runs"]}, metrics=("ROUGE-L", "SPICE"))
    assert "SPICE" not in s and "ROUGE-L" in s
    assert any("SPICE skipped" in r.getMessage() for r in caplog.records)


def test_scorer_missing_names_the_reason(monkeypatch):
    """A GPU machine without Java defers scoring instead of failing the run."""
    from zoo.eval import captioning
    assert captioning.scorer_missing() is None
    monkeypatch.setattr(captioning.shutil, "which", lambda name: None)
    assert "Java" in captioning.scorer_missing()


def test_saved_records_are_scored_like_a_live_run(tmp_path):
    """`zoo eval --records eval_records.json`: captions decoded elsewhere, scored here."""
    import argparse
    import json

    from zoo.eval import cli
    from zoo.eval.tasks import score_records
    records = {"1": {"caption": "a red circle", "references": ["a red circle", "there is a red circle"]},
               "2": {"caption": "a blue square", "references": ["a green triangle"]}}
    path = tmp_path / "eval_records.json"
    path.write_text(json.dumps(records))
    args = cli.add_arguments(argparse.ArgumentParser()).parse_args(
        ["captioner", "--task", "captioning", "--records", str(path), "--caption-metrics", "BLEU,CIDEr-D",
         "--out", str(tmp_path / "out")])
    assert cli.run(args) == 0
    got = json.loads((tmp_path / "out" / "eval.json").read_text())
    want = score_records("captioning", records, metrics=["BLEU", "CIDEr-D"])
    assert got["scores"]["CIDEr-D"] == pytest.approx(want["CIDEr-D"]) and got["n_samples"] == 2
    args.task, args.records = "bpd", str(path)
    with pytest.raises(ValueError, match="captioning or vqa"):
        cli.run(args)
