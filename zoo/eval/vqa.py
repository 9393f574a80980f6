"""VQA accuracy, re-implementing the official VQA v2 evaluation.

Antol et al., "VQA: Visual Question Answering" (ICCV 2015) and Goyal et al., "Making the V in
VQA Matter" (CVPR 2017); the reference code is ``vqaEval.py`` of github.com/GT-Vision-Lab/VQA.
An answer is correct in proportion to how many of the human annotators gave it:
``min(#matching / 3, 1)``, averaged over the 10 subsets of 9 annotators (leave one out), so
4+ matches -> 100, 3 -> 90, 2 -> 60, 1 -> 30.

The normalisation follows the official script quirk for quirk (numbers reported here must match
the evaluation server): the *prediction* gets punctuation handling, then lowercasing, number
words -> digits, article removal and the contractions table; the *ground-truth* answers (already
normalised in the VQA v2 annotation files) only get punctuation handling, and only when the
annotators disagree. ``normalize_references=True`` also runs the full normalisation on
references, for answer sets that were not pre-normalised.

Single-answer datasets such as easy-VQA cannot use the leave-one-out rule (leaving out the only
annotator leaves nothing to match), so questions with exactly one reference answer are scored by
exact match after full normalisation of both sides.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from fractions import Fraction

# fmt: off
CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've",
    "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}
NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
ARTICLES = ("a", "an", "the")
PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-",
               ">", "<", "@", "`", ",", "?", "!")
# fmt: on
# The official pattern is "(?!<=\d)(\.)(?!\d)": a look-*ahead* typo for a look-behind, so in
# effect a period is removed unless a digit follows ("2.5" stays, "dog." -> "dog"). Kept verbatim.
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")


def process_punctuation(text: str) -> str:
    """Official punctuation rule: a mark touching a space, or any text with a digit-comma-digit
    ("1,000"), loses the mark; elsewhere the mark becomes a space ("black/white" -> "black white").
    """
    out = text
    has_digit_comma = _COMMA_STRIP.search(text) is not None
    for p in PUNCTUATION:
        if (p + " " in text or " " + p in text) or has_digit_comma:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out)


def process_digit_article(text: str) -> str:
    """Lowercase, number words -> digits, drop articles, restore contractions ("dont" -> "don't")."""
    words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    words = [CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES]
    return " ".join(words)


def normalize_answer(text: str) -> str:
    """The full normalisation the official script applies to a predicted answer."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text))


def _fraction_correct(
    prediction: str, answers: Sequence[str], normalize_references: bool
) -> Fraction:
    """Accuracy of one question as an exact fraction in [0, 1]."""
    pred = normalize_answer(prediction)
    if len(answers) == 1:  # easy-VQA style: exact match
        return Fraction(int(pred == normalize_answer(answers[0])))
    if normalize_references:
        gts = [normalize_answer(a) for a in answers]
    elif len(set(answers)) > 1:
        gts = [process_punctuation(a) for a in answers]
    else:
        gts = list(answers)
    matches = sum(g == pred for g in gts)
    # Leave annotator i out: the others match `matches - [gts[i] == pred]` times.
    total = sum(min(3, matches - (g == pred)) for g in gts)
    return Fraction(total, 3 * len(gts))


def answer_type(answers: Sequence[str] | str) -> str:
    """VQA v2's answer type from the most common answer: "yes/no", "number" or "other".

    Used when the data carries no ``answer_type`` (easy-VQA), so the breakdown still exists.
    """
    answers = [answers] if isinstance(answers, str) else list(answers)
    top = normalize_answer(Counter(answers).most_common(1)[0][0])
    if top in ("yes", "no"):
        return "yes/no"
    return "number" if top.replace(".", "", 1).isdigit() else "other"


def vqa_question_accuracy(
    prediction: str, answers: Sequence[str] | str, *, normalize_references: bool = False
) -> float:
    """Accuracy in [0, 1] of one predicted answer against its annotators' answers."""
    if isinstance(answers, str):
        answers = [answers]
    if len(answers) == 0:
        raise ValueError("a question needs at least one reference answer")
    return float(_fraction_correct(prediction, answers, normalize_references))


def _percent(values: list[Fraction]) -> float:
    return float(100 * sum(values, Fraction(0)) / len(values))


def vqa_accuracy(
    predictions: Mapping[Hashable, str],
    answers: Mapping[Hashable, Sequence[str] | str],
    question_types: Mapping[Hashable, str] | None = None,
    answer_types: Mapping[Hashable, str] | None = None,
    *,
    normalize_references: bool = False,
) -> dict:
    """VQA accuracy over a split, in [0, 100].

    ``answers[qid]`` is the list of annotator answers (10 in VQA v2) or one answer (easy-VQA).
    Returns ``{"overall", "per_question_type", "per_answer_type", "n", "metric"}`` where the
    breakdowns map each type to its accuracy (empty when the types are not given) and ``metric``
    says which rule was used ("vqa", "exact_match" or "mixed").
    """
    if not predictions or not answers:
        raise ValueError("vqa_accuracy needs non-empty predictions and answers")
    if set(predictions) != set(answers):
        missing = set(answers) - set(predictions)
        extra = set(predictions) - set(answers)
        raise ValueError(
            f"prediction and answer question ids differ: {len(missing)} questions without a "
            f"prediction (e.g. {sorted(map(str, missing))[:5]}), {len(extra)} predictions for "
            f"unknown questions (e.g. {sorted(map(str, extra))[:5]})"
        )
    per_q: dict[Hashable, Fraction] = {}
    n_single = 0
    for qid, gts in answers.items():
        gts = [gts] if isinstance(gts, str) else list(gts)
        if not gts:
            raise ValueError(f"question {qid!r} has no reference answers")
        n_single += len(gts) == 1
        per_q[qid] = _fraction_correct(predictions[qid], gts, normalize_references)

    def breakdown(types: Mapping[Hashable, str] | None) -> dict[str, float]:
        if types is None:
            return {}
        groups: dict[str, list[Fraction]] = defaultdict(list)
        for qid, acc in per_q.items():
            if qid not in types:
                raise ValueError(f"question {qid!r} has no type in the breakdown mapping")
            groups[str(types[qid])].append(acc)
        return {t: _percent(v) for t, v in sorted(groups.items())}

    metric = "exact_match" if n_single == len(per_q) else "vqa" if n_single == 0 else "mixed"
    return {
        "overall": _percent(list(per_q.values())),
        "per_question_type": breakdown(question_types),
        "per_answer_type": breakdown(answer_types),
        "n": len(per_q),
        "metric": metric,
    }
