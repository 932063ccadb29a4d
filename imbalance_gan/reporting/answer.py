"""The answer to the title's question, the first thing under the title: the best classic fix and
the best generative scenario, each chosen as the comparisons choose (on the validation split, or
on the test set's selection half; never on the numbers reported), and their paired difference on
the rare class's headline metric (its F1; the mean F1 of several) with its interval and the
verdict of the "Generators vs the best classic fix" table (paired t-test, Holm over that table).
Nothing here is computed anew but the best generative scenario, ranked as the classic ones are.
The prose is in templates/answer.md."""

from __future__ import annotations

from imbalance_gan.reporting.aggregate import (
    ALPHA,
    MIN_PAIRS_FOR_TEST,
    classic_ranking,
    is_number,
)
from imbalance_gan.reporting.columns import half_metrics, key_metrics
from imbalance_gan.reporting.comparisons import SMALL_VALIDATION, interval, verdict
from imbalance_gan.reporting.prose import prose
from imbalance_gan.reporting.report_data import ReportData
from imbalance_gan.reporting.tables import fmt, label, p_text, scenario_name


def headline(data: ReportData) -> str:
    """The metric the answer is given in: the rare class's F1 (the rare classes' mean F1) as the
    comparisons measure it (on the report half when chosen on the selection half)."""
    if data.on_halves:
        return half_metrics(data.minority, "report")[0]
    return key_metrics(data.minority)[0]


def _difference(c: dict, scenario: str, other: str) -> str:
    return prose(
        "answer",
        "difference",
        scenario=scenario,
        other=other,
        diff=f"{c['mean_diff']:+.4f}" if is_number(c["mean_diff"]) else "—",
        ci=interval(c),
        n=c["n"],
        p=p_text(c["p_value"]) if c["tested"] else "—",
        p_holm=p_text(c["p_holm"]) if c["tested"] else "—",
        alpha=c.get("alpha", ALPHA),
        verdict=verdict(c),
    )


def _conclusion(c: dict) -> str:
    if not c["tested"]:
        enough = c["n"] >= MIN_PAIRS_FOR_TEST
        why = "same_difference" if enough else "too_few_seeds"
        return prose("answer", "not_tested", why=prose("answer", why, min_pairs=MIN_PAIRS_FOR_TEST))
    if c["p_holm"] >= c.get("alpha", ALPHA):
        return prose("answer", "undecided")
    return prose("answer", "generator_wins" if c["mean_diff"] > 0 else "fix_wins")


def _small_validation(data: ReportData) -> str:
    if data.on_halves:
        return ""
    sizes = [
        r[f"n_val_c{k}"]
        for r in data.rows
        for k in data.minority
        if is_number(r.get(f"n_val_c{k}"))
    ]
    if not sizes or min(sizes) >= SMALL_VALIDATION:
        return ""
    return prose("answer", "small_validation", n=int(min(sizes)))


def _best_fix(data: ReportData, metric: str) -> str | None:
    """The classic fix the comparisons chose for ``metric`` (or would, with no generator)."""
    chosen = [c["baseline"] for c in data.best_classic if c["metric"] == metric]
    if chosen:
        return chosen[0]
    named = data.study.get("best_classic")
    if named and any(r["scenario"] == named for r in data.rows):
        return named
    return data.ranking[0][0] if data.ranking else None


def _shown(name: str, data: ReportData) -> str:
    """A scenario's name as code, with the marks of a generator below the quality floor and
    of a signature strong enough to be a shortcut."""
    return f"`{name}`{scenario_name(name, data.collapsed, data.shortcuts)[len(name) :]}"


def _alone(data: ReportData, block: str, name: str, metric: str, chosen: str) -> str:
    """One best scenario's value, and its difference from the baseline where the report has it."""
    summary = {s["scenario"]: s for s in data.summary}
    measured = prose("answer", "measured_on_halves" if data.on_halves else "measured_on_test")
    line = prose(
        "answer",
        block,
        scenario=_shown(name, data),
        chosen=chosen,
        value=fmt(summary.get(name), metric),
        metric=label(key_metrics(data.minority)[0]),
        measured=measured,
    )
    test = key_metrics(data.minority)[0]
    against = [c for c in data.comparisons if c["scenario"] == name and c["metric"] == test]
    if against:
        diff = _difference(against[0], f"`{name}`", f"`{data.baseline}`")
        line += " " + prose("answer", "against_baseline", baseline=data.baseline, difference=diff)
    return line


def answer(data: ReportData) -> list[str]:
    """The section: a few lines that answer the title's question, or say why these runs cannot."""
    metric = headline(data)
    families = {r.get("family") for r in data.rows}
    if data.on_halves:
        chosen = prose("answer", "chosen_on_halves")
    elif data.study.get("best_classic"):
        chosen = prose("answer", "chosen_in_config")
    else:
        chosen = prose("answer", "chosen_on_validation")
    fix = _best_fix(data, metric)
    ranked = classic_ranking(data.rows, data.choosing, family="generative")
    generator = ranked[0][0] if ranked else None
    if "generative" not in families and "classic" not in families:
        present = ", ".join(dict.fromkeys(r["scenario"] for r in data.rows))
        return [prose("answer", "neither", present=present, baseline=data.baseline)]
    if "generative" not in families:
        best = _alone(data, "best_fix_alone", fix, metric, chosen) if fix else ""
        return [prose("answer", "no_generator", fix=best).rstrip()]
    if "classic" not in families:
        best = _alone(data, "best_generator_alone", generator, metric, chosen) if generator else ""
        return [prose("answer", "no_fix", generator=best).rstrip()]
    pair = [
        c
        for c in data.best_classic
        if c["scenario"] == generator and c["baseline"] == fix and c["metric"] == metric
    ]
    if not pair:
        return [prose("answer", "unchosen", choosing=label(data.choosing[0]))]
    c = pair[0]
    summary = {s["scenario"]: s for s in data.summary}
    measured = prose("answer", "measured_on_halves" if data.on_halves else "measured_on_test")
    return [
        prose(
            "answer",
            "section",
            metric=label(key_metrics(data.minority)[0]),
            measured=measured,
            conclusion=_conclusion(c),
            fix=_shown(fix, data),
            fix_value=fmt(summary.get(fix), metric),
            generator=_shown(generator, data),
            generator_value=fmt(summary.get(generator), metric),
            difference=_difference(c, "generative", "fix"),
            chosen=chosen,
            warning=_small_validation(data),
        )
    ]
