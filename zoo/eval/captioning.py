"""Captioning metrics through pycocoevalcap, the scorer of the COCO caption leaderboard.

Chen et al., "Microsoft COCO Captions: Data Collection and Evaluation Server" (2015): BLEU-1..4
(Papineni et al. 2002), METEOR 1.5 (Denkowski & Lavie 2014), ROUGE-L (Lin 2004), CIDEr-D
(Vedantam et al. 2015) and optionally SPICE (Anderson et al. 2016).

pycocoevalcap's ``Cider`` *is* the CIDEr-D variant (clipped n-gram counts ``min(hyp, ref)``, a
Gaussian length penalty with sigma = 6, and the x10 factor), which is what the COCO server reports
as "CIDEr-D"; its IDF is computed from the references of the evaluated corpus, so scores must be
computed over the whole split at once — never averaged over batches or ranks.

Everything is tokenised first by the Stanford PTB tokenizer (Java) and punctuation tokens are
dropped, as in ``pycocoevalcap.eval.COCOEvalCap``. METEOR also runs in Java. SPICE needs Stanford
CoreNLP 3.6.0 jars that pycocoevalcap downloads on first use; this module never downloads: when
the jars are absent SPICE is skipped with a logged message.
"""
from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Hashable, Iterable, Mapping, Sequence

log = logging.getLogger("zoo.eval")

ALL_METRICS = ("BLEU", "METEOR", "ROUGE-L", "CIDEr-D", "SPICE")
# Keys of the result, in the order the COCO server prints them.
SCORE_KEYS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D", "SPICE")
_SPICE_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")


def _require_pycocoevalcap():
    try:
        import pycocoevalcap  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "captioning metrics need pycocoevalcap: pip install 'zoo[eval]' (or pycocoevalcap>=1.2)"
        ) from e
    if shutil.which("java") is None:
        raise RuntimeError(
            "pycocoevalcap's PTB tokenizer and METEOR run in Java, and no `java` is on PATH"
        )


def scorer_missing() -> str | None:
    """Why captions cannot be scored here (None: they can). A GPU machine without Java defers the
    scoring: training writes its captions (eval_records.json) for ``zoo eval --records``."""
    try:
        _require_pycocoevalcap()
    except (ImportError, RuntimeError) as e:
        return str(e)
    return None


def spice_available() -> tuple[bool, str]:
    """Whether SPICE can run without a download; the reason when it cannot.

    pycocoevalcap's ``Spice()`` downloads CoreNLP (~400 MB) from its constructor when the jars
    are missing, so we check for them ourselves before ever constructing it.
    """
    try:
        import pycocoevalcap.spice as spice_pkg
    except ImportError:
        return False, "SPICE skipped: pycocoevalcap is not installed"
    lib = os.path.join(list(spice_pkg.__path__)[0], "lib")
    missing = [j for j in _SPICE_JARS if not os.path.exists(os.path.join(lib, j))]
    if missing:
        return False, (
            f"SPICE skipped: Stanford CoreNLP jars {missing} are not in {lib} "
            "(pycocoevalcap would download them; zoo never downloads at eval time — "
            "run pycocoevalcap/spice/get_stanford_models.py once where there is network)"
        )
    return True, ""


def _check_inputs(
    candidates: Mapping[Hashable, str], references: Mapping[Hashable, Sequence[str]]
) -> None:
    if not candidates or not references:
        raise ValueError(
            f"caption_scores needs non-empty inputs (got {len(candidates)} candidates, "
            f"{len(references)} reference sets)"
        )
    cand_ids, ref_ids = set(candidates), set(references)
    if cand_ids != ref_ids:
        only_c = sorted(map(str, cand_ids - ref_ids))[:5]
        only_r = sorted(map(str, ref_ids - cand_ids))[:5]
        raise ValueError(
            "candidate and reference ids differ: "
            f"{len(cand_ids - ref_ids)} only in candidates (e.g. {only_c}), "
            f"{len(ref_ids - cand_ids)} only in references (e.g. {only_r})"
        )
    for k, c in candidates.items():
        if not isinstance(c, str):
            raise ValueError(f"candidate for id {k!r} must be one string, got {type(c).__name__}")
    for k, refs in references.items():
        if isinstance(refs, str) or len(refs) == 0:
            raise ValueError(f"references for id {k!r} must be a non-empty list of strings")


def tokenize(captions: Mapping[Hashable, Sequence[str]]) -> dict[Hashable, list[str]]:
    """PTB-tokenise, lowercase and drop punctuation, exactly as COCOEvalCap does."""
    _require_pycocoevalcap()
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    return PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})


def caption_scores(
    candidates: Mapping[Hashable, str],
    references: Mapping[Hashable, Sequence[str]],
    *,
    metrics: Iterable[str] = ALL_METRICS,
) -> dict[str, float]:
    """Corpus-level COCO caption metrics.

    ``candidates`` maps an image id to one generated caption, ``references`` the same ids to
    their ground-truth captions (raw text; tokenisation happens here). Returns floats keyed by
    ``BLEU-1..4, METEOR, ROUGE-L, CIDEr-D`` (and ``SPICE`` when its jars are present), on
    pycocoevalcap's native scale (BLEU/METEOR/ROUGE in [0, 1], CIDEr-D in [0, 10]).
    ``metrics`` selects a subset of ``ALL_METRICS`` (METEOR's Java start-up costs seconds).
    """
    _check_inputs(candidates, references)
    wanted = set(metrics)
    unknown = wanted - set(ALL_METRICS)
    if unknown:
        raise ValueError(f"unknown caption metrics {sorted(unknown)}; choose from {ALL_METRICS}")
    _require_pycocoevalcap()
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    # Tokenise both sides in one Java call each; the tokenizer keeps our ids as keys.
    ids = list(references)
    gts = tokenize({k: list(references[k]) for k in ids})
    res = tokenize({k: [candidates[k]] for k in ids})

    out: dict[str, float] = {}
    if "BLEU" in wanted:
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        out.update({f"BLEU-{n + 1}": float(b) for n, b in enumerate(bleu)})
    if "METEOR" in wanted:
        from pycocoevalcap.meteor.meteor import Meteor

        meteor = Meteor()
        try:
            out["METEOR"] = float(meteor.compute_score(gts, res)[0])
        finally:
            _close_meteor(meteor)
    if "ROUGE-L" in wanted:
        out["ROUGE-L"] = float(Rouge().compute_score(gts, res)[0])
    if "CIDEr-D" in wanted:
        out["CIDEr-D"] = float(Cider().compute_score(gts, res)[0])
    if "SPICE" in wanted:
        ok, why = spice_available()
        if ok:
            from pycocoevalcap.spice.spice import Spice

            out["SPICE"] = float(Spice().compute_score(gts, res)[0])
        else:
            log.warning(why)
    return {k: out[k] for k in SCORE_KEYS if k in out}


def _close_meteor(meteor) -> None:
    """Stop METEOR's JVM now rather than whenever the garbage collector runs ``__del__``."""
    proc = getattr(meteor, "meteor_p", None)
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.stdin.close()
    finally:
        proc.kill()
        proc.wait()
