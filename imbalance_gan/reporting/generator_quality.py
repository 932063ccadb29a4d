"""The report's generator quality section (:data:`~imbalance_gan.reporting.markdown.SECTIONS`):
each generator's selection score and its real-vs-real scale, distances, fidelity, coverage,
class shares and copies; which fell below the quality floor, and which the numbers cannot judge
(the feature network does not recognise the rare class, or too few held-out images), each with
its reason. The prose is in templates/generator_quality.md. What a run did not record (records
before version 2) leaves its column out, so older reports read as they did."""

from __future__ import annotations

from collections.abc import Sequence

from imbalance_gan.record import (
    FEATURE_VAL_RECALL,
    GAN_EVAL,
    REAL_HALVES,
    SELECTION_SCORE,
    gan_metrics,
)
from imbalance_gan.reporting.prose import prose
from imbalance_gan.reporting.report_data import ReportData
from imbalance_gan.reporting.tables import fmt, table

#: the GANs that follow the original study's recipe (conf/gan/<name>.yaml)
STUDY_GANS = ("vanilla", "dcgan", "cgan")


def _sizes(rows: Sequence[dict]) -> str:
    sizes = set()
    for r in rows:
        m = gan_metrics(r["record"]) if r.get("gan") else {}
        if m and m["eval/n_real"] is not None and m["eval/n_fake"] is not None:
            sizes.add((m["eval/n_real"], m["eval/n_fake"], m["eval/n_pr"]))
    text = " or ".join(
        prose("generator_quality", "sizes", real=real, fake=f"{fake:,}", pr=pr)
        for real, fake, pr in sorted(sizes)
    )
    return text or prose("generator_quality", "sizes_not_recorded")


def _recorded(rows: Sequence[dict], key: str) -> bool:
    """Whether any run with a generator recorded ``key`` (a number, or a verdict)."""
    return any(r.get(key) is not None for r in rows if r.get("gan"))


def _unjudged_counts(rows: Sequence[dict]) -> dict[str, tuple[int, int]]:
    """Scenario -> (seeds whose generator the numbers cannot judge, seeds that say either way)."""
    out: dict[str, tuple[int, int]] = {}
    for r in rows:
        if r.get("gan") and r.get("gan/cannot_judge") is not None:
            bad, n = out.get(r["scenario"], (0, 0))
            out[r["scenario"]] = (bad + bool(r["gan/cannot_judge"]), n + 1)
    return out


def generator_quality(data: ReportData) -> list[str]:
    """Each generator's selection score (beside its real-vs-real scale, where recorded),
    distances, fidelity, coverage, class shares and copies; which fell below the quality floor
    and which the numbers cannot judge."""
    summary, rows = data.summary, data.rows
    gans = {r["scenario"]: r["gan"] for r in rows if r.get("gan")}
    if not gans:
        return [prose("generator_quality", "none")]
    scale, judged = _recorded(rows, REAL_HALVES), _recorded(rows, "gan/cannot_judge")
    # two tables, so that each fits a page: the selection and the distances; then fidelity,
    # coverage, class shares and copies
    distances = (SELECTION_SCORE, *((REAL_HALVES,) if scale else ()), *GAN_EVAL[:2])
    shares = (
        *GAN_EVAL[2:],
        *((FEATURE_VAL_RECALL,) if _recorded(rows, FEATURE_VAL_RECALL) else ()),
    )
    unjudged = _unjudged_counts(rows)
    scenarios = [s for s in summary if s["scenario"] in gans]
    first = [
        [
            s["scenario"],
            gans[s["scenario"]],
            s["n_seeds"],
            fmt(s, "gan/best_epoch", 0),
            fmt(s, "gan/best_step", 0),
            *(fmt(s, c, 3) for c in distances),
            "{}/{}".format(*data.collapsed[s["scenario"]]),
            *(["{}/{}".format(*unjudged.get(s["scenario"], (0, 0)))] if judged else []),
        ]
        for s in scenarios
    ]
    head = ["scenario", "generator", "n seeds", "best epoch", "best step"]
    head += [*(f"`{c}`" for c in distances), "collapsed (seeds)"]
    head += ["cannot judge (seeds)"] if judged else []
    second = [[s["scenario"], *(fmt(s, c, 3) for c in shares)] for s in scenarios]
    section = prose(
        "generator_quality",
        "section",
        score=SELECTION_SCORE,
        sizes=_sizes(rows),
        distances=table(head, first),
        shares=table(["scenario", *(f"`{c}`" for c in shares)], second),
    )
    judging = [prose("generator_quality", "judging"), ""] if judged or scale else []
    return [section, "", *judging, *_verdicts(rows), *_study_recipe_note(rows)]


def _verdicts(rows: Sequence[dict]) -> list[str]:
    """Which generators fell below the quality floor, and which the numbers cannot judge (their
    floor verdict, pass or fail, says nothing), each with its reason per seed."""
    collapsed = [
        f"- {r['scenario']}, seed {r['seed']}: {r['gan/collapse_reason']}"
        for r in rows
        if r.get("gan/collapsed")
    ]
    unjudged = [
        f"- {r['scenario']}, seed {r['seed']}: {r['gan/cannot_judge_reason']}"
        for r in rows
        if r.get("gan") and r.get("gan/cannot_judge")
    ]
    if collapsed:
        lines = [prose("generator_quality", "below_floor"), "", *collapsed]
    elif unjudged:
        lines = [prose("generator_quality", "judged_above_floor")]
    else:
        lines = [prose("generator_quality", "all_above_floor")]
    if unjudged:
        lines += ["", prose("generator_quality", "cannot_judge"), "", *unjudged]
    return lines


def _study_recipe_note(rows: Sequence[dict]) -> list[str]:
    """Say whose failure a collapsed study GAN is."""
    names = sorted(
        {r["gan"] for r in rows if r.get("gan/collapsed") and r.get("gan") in STUDY_GANS}
    )
    return ["", prose("generator_quality", "study_recipe", gans=", ".join(names))] if names else []
