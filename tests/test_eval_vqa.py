"""VQA v2 accuracy: the official leave-one-out rule and answer normalisation, case by case."""
import pytest

from zoo.eval import normalize_answer, vqa_accuracy, vqa_question_accuracy


@pytest.mark.parametrize("agree, expected", [(0, 0.0), (1, 30.0), (2, 60.0), (3, 90.0),
                                             (4, 100.0), (7, 100.0), (10, 100.0)])
def test_leave_one_out_over_ten_annotators(agree, expected):
    answers = ["dog"] * agree + ["cat", "horse", "cow", "sheep", "bird", "fox", "cat",
                                 "horse", "cow", "sheep"][: 10 - agree]
    r = vqa_accuracy({7: "dog"}, {7: answers})
    assert r["overall"] == expected  # exact: computed with fractions, not float sums
    assert r["n"] == 1 and r["metric"] == "vqa"


@pytest.mark.parametrize("pred, gt", [
    ("Two.", "2"),            # number word, case, trailing period
    ("two", "2"),
    ("none", "0"),
    ("a dog", "dog"),         # articles dropped
    ("The Dog", "dog"),
    ("dont", "don't"),        # contractions table
    ("isnt", "isn't"),
    ("yes!", "yes"),
    ("1,000", "1000"),        # digit,digit: commas deleted
    ("2.5", "2.5"),           # a period followed by a digit stays
    ("black/white", "black white"),  # no space next to '/': becomes a space
    ("  red\n", "red"),
])
def test_normalisation_makes_these_match(pred, gt):
    assert vqa_question_accuracy(pred, [gt] * 10) == 1.0


@pytest.mark.parametrize("pred, gt", [("2.5", "25"), ("dogs", "dog"), ("1,000", "1 000")])
def test_normalisation_keeps_these_apart(pred, gt):
    assert vqa_question_accuracy(pred, [gt] * 10) == 0.0


def test_punctuation_next_to_digits():
    assert normalize_answer("10,000") == "10000"
    assert normalize_answer("3.") == "3"
    assert normalize_answer("3.5") == "3.5"
    # With a digit-comma-digit anywhere, every listed mark is deleted rather than spaced.
    assert normalize_answer("1,000 (approx)") == "1000 approx"
    assert normalize_answer("up-down") == "up down"
    assert normalize_answer("up - down") == "up down"


def test_references_only_get_punctuation_when_annotators_disagree():
    # Official quirk: GT answers are assumed pre-normalised; "Two" in GT is not mapped to "2".
    assert vqa_question_accuracy("2", ["Two"] * 10) == 0.0
    assert vqa_question_accuracy("2", ["Two"] * 10, normalize_references=True) == 1.0
    # Disagreeing annotators: punctuation handled on the GT side ("yes." counts as "yes").
    assert vqa_question_accuracy("yes", ["yes."] * 3 + ["no"] * 7) == pytest.approx(0.9)
    assert vqa_question_accuracy("yes", ["yes."] * 10) == 0.0  # unanimous: GT left as is


def test_breakdowns_and_single_answer_exact_match():
    preds = {1: "circle", 2: "Blue", 3: "yes", 4: "no"}
    answers = {1: "circle", 2: "blue", 3: ["no"], 4: "no"}  # easy-VQA: one answer each
    qtypes = {1: "shape", 2: "color", 3: "yes/no", 4: "yes/no"}
    atypes = {1: "other", 2: "other", 3: "yes/no", 4: "yes/no"}
    r = vqa_accuracy(preds, answers, question_types=qtypes, answer_types=atypes)
    assert r["metric"] == "exact_match"
    assert r["overall"] == 75.0
    assert r["per_question_type"] == {"color": 100.0, "shape": 100.0, "yes/no": 50.0}
    assert r["per_answer_type"] == {"other": 100.0, "yes/no": 50.0}


def test_mixed_and_mean_over_questions():
    r = vqa_accuracy({1: "dog", 2: "cat"}, {1: ["dog"] * 2 + ["x"] * 8, 2: "cat"})
    assert r["metric"] == "mixed" and r["overall"] == 80.0  # (60 + 100) / 2


def test_mismatched_or_empty_inputs_raise():
    with pytest.raises(ValueError, match="non-empty"):
        vqa_accuracy({}, {})
    with pytest.raises(ValueError, match="without a prediction"):
        vqa_accuracy({1: "a"}, {1: ["a"], 2: ["b"]})
    with pytest.raises(ValueError, match="no type"):
        vqa_accuracy({1: "a"}, {1: ["a"]}, question_types={2: "what"})
