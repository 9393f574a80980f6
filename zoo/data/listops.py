"""ListOps as in Long Range Arena (Tay et al., 2021; the task of Nangia & Bowman, 2018), generated
by our own code following LRA's definition (lra_benchmarks/data/listops.py):

- a tree is a digit 0-9, or an operator MIN, MAX, MED (median, rounded down) or SM (sum mod 10)
  applied to 2..10 subtrees; below depth 10 a node is an operator with probability 0.25;
- the length is the number of digits + 2 per operator (the operator and its "]"); LRA keeps
  trees with 500 < length < 2000 and makes 96,000 / 2,000 / 2,000 train / val / test;
- the text is LRA's tsv "Source" column, e.g. "( ( ( [MAX 2 ) 9 ) ] )": operator (a, b, c)
  prints as k+1 "(" then "[OP a ) b ) c ) ] )". LRA's tokenizer drops the parentheses, so the
  model sees [MAX 2 9 ] (500-2000 tokens); `encode` does the same.

Rejection sampling stops a tree as soon as it grows past the maximum length (it would be
rejected anyway), which keeps the accepted distribution and makes generation fast.
Each split has its own fixed seed, so conversion is reproducible.
"""
from __future__ import annotations

import os
import random
from typing import Any, Iterator, Union

from .shards import ShardSink, print_summary, write_index

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
END = "]"
VALUE_P = 0.25  # LRA's VALUE_P: below max depth a node is an operator when random() <= 0.25
MAX_DEPTH, MAX_ARGS, MIN_LENGTH, MAX_LENGTH = 10, 10, 500, 2000
SPLITS = {"train": 96_000, "val": 2_000, "test": 2_000}
SEEDS = {"train": 11, "val": 22, "test": 33}

PAD, CLS = "<pad>", "<cls>"
VOCAB = (PAD, CLS) + OPERATORS + (END,) + tuple(str(d) for d in range(10))
TOKEN_ID = {t: i for i, t in enumerate(VOCAB)}
PAD_ID, CLS_ID = TOKEN_ID[PAD], TOKEN_ID[CLS]

Tree = Union[int, tuple]  # a digit, or (operator, [subtrees])


class _TooLong(Exception):
    pass


def generate_tree(rng: random.Random, max_length: int = MAX_LENGTH, depth: int = 1,
                  budget: list[int] | None = None) -> tuple[Tree, int]:
    """One LRA tree and its length; raises _TooLong once the length reaches `max_length`."""
    budget = [0] if budget is None else budget
    r = rng.random() if depth < MAX_DEPTH else 1.0
    if r > VALUE_P:
        budget[0] += 1
        if budget[0] >= max_length:
            raise _TooLong
        return rng.choice(range(10)), 1
    budget[0] += 2
    length = 2
    args = []
    for _ in range(rng.randint(2, MAX_ARGS)):
        sub, n = generate_tree(rng, max_length, depth + 1, budget)
        args.append(sub)
        length += n
    if budget[0] >= max_length:
        raise _TooLong
    return (rng.choice(OPERATORS), args), length


def evaluate(tree: Tree) -> int:
    """The value of a tree, with LRA's semantics (MED = int(np.median), SM = sum % 10)."""
    if isinstance(tree, int):
        return tree
    op, args = tree
    vals = [evaluate(a) for a in args]
    if op == "[MIN":
        return min(vals)
    if op == "[MAX":
        return max(vals)
    if op == "[SM":
        return sum(vals) % 10
    s, n = sorted(vals), len(vals)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) // 2


def to_tokens(tree: Tree, out: list[str] | None = None) -> list[str]:
    """LRA's to_string as a token list, parentheses included."""
    out = [] if out is None else out
    if isinstance(tree, int):
        out.append(str(tree))
        return out
    op, args = tree
    out.extend(["("] * (len(args) + 1))
    out.append(op)
    for a in args:
        to_tokens(a, out)
        out.append(")")
    out.extend([END, ")"])
    return out


def generate(n: int, seed: int, min_length: int = MIN_LENGTH,
             max_length: int = MAX_LENGTH) -> Iterator[dict[str, Any]]:
    """`n` distinct samples {"source": tsv text, "label": int, "length": int}."""
    rng = random.Random(seed)
    seen: set[int] = set()
    made = 0
    while made < n:
        try:
            tree, length = generate_tree(rng, max_length)
        except _TooLong:
            continue
        if not min_length < length < max_length:
            continue
        source = " ".join(to_tokens(tree))
        h = hash(source)
        if h in seen:  # LRA keeps a set of trees: no duplicates within a split
            continue
        seen.add(h)
        made += 1
        yield {"source": source, "label": evaluate(tree), "length": length}


def encode(source: str, add_cls: bool = False) -> list[int]:
    """LRA tsv text -> token ids (parentheses dropped, as LRA's tokenizer does)."""
    ids = [CLS_ID] if add_cls else []
    try:
        ids.extend(TOKEN_ID[t] for t in source.split() if t not in ("(", ")"))
    except KeyError as exn:
        raise ValueError(f"unknown ListOps token {exn.args[0]!r}") from None
    return ids


def convert(out: str | os.PathLike, limit: int | None = None, *, maxcount: int = 500,
            progress: bool | None = None) -> dict[str, Any]:
    """Generate the three splits into shards (`txt` = LRA Source, `json` = label and length)."""
    summaries = []
    for split, n in SPLITS.items():
        n = min(n, limit) if limit is not None else n
        with ShardSink(out, split, maxcount=maxcount, total=n, desc=f"listops {split}",
                       progress=progress) as sink:
            for i, s in enumerate(generate(n, SEEDS[split])):
                sink.write({"__key__": f"{i:06d}", "txt": s["source"],
                            "json": {"label": s["label"], "length": s["length"]}})
        summaries.append(sink.summary)
    index = write_index(out, "listops", summaries, vocab=list(VOCAB), num_classes=10,
                        seeds=SEEDS, min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    print_summary(index, out)
    return index
