"""The ListOps generator follows LRA's definition, checked by an independent evaluator."""
from __future__ import annotations

import statistics

import pytest

from zoo.data import listops

N = 300


@pytest.fixture(scope="module")
def samples():
    return list(listops.generate(N, seed=1234))


def parse_pairs(tokens: list[str]) -> int:
    """LRA's to_string writes every node as "( left right )": check that, return #pairs."""
    pos = 0

    def node() -> int:
        nonlocal pos
        if tokens[pos] != "(":
            pos += 1
            return 0
        pos += 1
        n = 1 + node() + node()
        assert tokens[pos] == ")", f"pair not closed at {pos}"
        pos += 1
        return n

    n = node()
    assert pos == len(tokens)
    return n


def stack_eval(source: str) -> tuple[int, int, int, int]:
    """(value, length, max operator nesting, max arguments) by a stack machine over the tokens."""
    stack: list[tuple[str, list[int]]] = []
    result, length, depth, max_args = None, 0, 0, 0
    for tok in source.split():
        if tok in ("(", ")"):
            continue
        length += 1
        if tok.startswith("["):
            stack.append((tok, []))
            depth = max(depth, len(stack))
        elif tok == "]":
            op, args = stack.pop()
            max_args = max(max_args, len(args))
            value = {"[MIN": min, "[MAX": max, "[SM": lambda a: sum(a) % 10,
                     "[MED": lambda a: int(statistics.median(a))}[op](args)
            (stack[-1][1].append(value) if stack else None)
            result = value if not stack else result
        else:
            assert tok.isdigit() and len(tok) == 1, tok
            stack[-1][1].append(int(tok))
    assert not stack and result is not None
    return result, length, depth, max_args


def test_labels_match_independent_evaluator(samples):
    for s in samples:
        value, length, depth, max_args = stack_eval(s["source"])
        assert s["label"] == value
        assert s["length"] == length
        assert listops.MIN_LENGTH < length < listops.MAX_LENGTH
        assert depth <= listops.MAX_DEPTH and 2 <= max_args <= listops.MAX_ARGS


def test_lra_tsv_format(samples):
    for s in samples[:50]:
        tokens = s["source"].split()
        assert set(tokens) <= {"(", ")", "]", *listops.OPERATORS, *map(str, range(10))}
        parse_pairs(tokens)
    assert samples[0]["source"].startswith("( ")
    # one operator with k args prints as k+1 "(" then "[OP a ) b ) ... ] )"
    assert " ".join(listops.to_tokens(("[MAX", [2, 9]))) == "( ( ( [MAX 2 ) 9 ) ] )"


def test_encode_drops_parentheses(samples):
    s = samples[0]
    ids = listops.encode(s["source"])
    assert len(ids) == s["length"] and listops.PAD_ID not in ids
    assert listops.encode(s["source"], add_cls=True)[0] == listops.CLS_ID
    assert [listops.VOCAB[i] for i in listops.encode("( ( ( [SM 1 ) 9 ) ] )")] == ["[SM", "1", "9", "]"]
    with pytest.raises(ValueError, match="unknown ListOps token"):
        listops.encode("[FIRST 1 ]")


def test_distribution_and_seeds(samples):
    labels = {s["label"] for s in samples}
    assert len(labels) == 10  # every answer occurs
    assert len({s["source"] for s in samples}) == N  # distinct, like LRA's set
    ops = {t for s in samples for t in s["source"].split() if t.startswith("[")}
    assert ops == set(listops.OPERATORS)
    again = list(listops.generate(5, seed=1234))
    assert [a["source"] for a in again] == [s["source"] for s in samples[:5]]
    assert listops.SPLITS == {"train": 96_000, "val": 2_000, "test": 2_000}
    assert len(set(listops.SEEDS.values())) == 3


def test_med_rounds_down_like_numpy():
    assert listops.evaluate(("[MED", [1, 2])) == 1 and listops.evaluate(("[MED", [3, 9, 4])) == 4
    assert listops.evaluate(("[SM", [9, 8, ("[MAX", [1, 7])])) == 4
