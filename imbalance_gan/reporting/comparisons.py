"""The report's paired comparisons: the generators against the best classic fix (and against
every classic fix), and each scenario against the baseline. Sections of report.md
(:data:`~imbalance_gan.reporting.markdown.SECTIONS`); the prose is in templates/comparisons.md."""

from __future__ import annotations

from collections.abc import Sequence

from imbalance_gan.reporting.aggregate import ALPHA, MIN_PAIRS_FOR_TEST, is_number
from imbalance_gan.reporting.prose import prose
from imbalance_gan.reporting.report_data import ReportData
from imbalance_gan.reporting.tables import label, p_text, table

# A validation split with fewer images of a minority class than this chooses the best classic
# scenario nearly at random (several tie at recall 1.0): the report says so.
SMALL_VALIDATION = 50
#: the most classic scenarios one table of the every-classic comparison has as columns: more
#: (a study of every long-tail fix has 17) are shown in several tables, each narrow enough for a
#: page
CLASSICS_PER_TABLE = 6


def interval(c: dict) -> str:
    """A comparison's 95% interval of the mean difference, ``[low, high]``."""
    return f"[{c['low']:+.4f}, {c['high']:+.4f}]" if is_number(c["low"]) else "—"


def verdict(c: dict) -> str:
    """A comparison's verdict at its ``alpha``: ``no``, ``yes (also after Holm)``, ``yes (not
    after Holm)`` or ``no test (why)``."""
    if not c["tested"]:
        enough = c["n"] >= MIN_PAIRS_FOR_TEST
        why = "same difference on every seed" if enough else f"n<{MIN_PAIRS_FOR_TEST}"
        return f"no test ({why})"
    alpha = c.get("alpha", ALPHA)
    after_holm = "also" if c["p_holm"] < alpha else "not"
    return "no" if c["p_value"] >= alpha else f"yes ({after_holm} after Holm)"


def _comparison_table(comparisons: Sequence[dict], with_baseline: bool = False) -> list[str]:
    body = []
    for c in comparisons:
        ci = interval(c)
        tested = c["tested"]
        p, p_holm = (p_text(c["p_value"]), p_text(c["p_holm"])) if tested else ("—", "—")
        diff = f"{c['mean_diff']:+.4f}" if is_number(c["mean_diff"]) else "—"
        base = [c["baseline"], c.get("chosen_on", "")] if with_baseline else []
        body.append(
            [c["scenario"], *base, label(c["metric"]), c["n"], diff, ci, p, p_holm, verdict(c)]
        )
    header = ["scenario", *(["compared with", "chosen on"] if with_baseline else []), "metric"]
    alpha = comparisons[0].get("alpha", ALPHA) if comparisons else ALPHA
    header += ["n pairs", "mean diff", "95% CI", "p", "Holm p", f"significant at {alpha}"]
    tested = sum(c["tested"] for c in comparisons)
    note = prose("comparisons", "p_note", n=tested, min_pairs=MIN_PAIRS_FOR_TEST)
    return [note, "", table(header, body)]


def comparison(data: ReportData) -> list[str]:
    """Each scenario against the baseline, paired by seed."""
    baseline = data.baseline
    lines = [prose("comparisons", "baseline", baseline=baseline), ""]
    if not data.comparisons:
        return lines + [prose("comparisons", "nothing_to_compare_with_baseline", baseline=baseline)]
    note = prose("comparisons", "baseline_note", baseline=baseline)
    return lines + [note, "", *_comparison_table(data.comparisons)]


def _cell(c: dict | None) -> str:
    if c is None or not is_number(c["mean_diff"]):
        return "—"
    if not c["tested"]:
        return f"{c['mean_diff']:+.4f} (no test)"
    mark = " ✓" if c["p_holm"] < c.get("alpha", ALPHA) else ""
    return f"{c['mean_diff']:+.4f} (p {p_text(c['p_value'])}){mark}"


def _every_classic(every: Sequence[dict], on_halves: bool = False) -> list[str]:
    if not every:
        return []
    where = "every_classic_on_halves" if on_halves else "every_classic_on_test"
    why = (
        "every_classic_checks_the_choice"
        if on_halves
        else "every_classic_checks_a_small_validation"
    )
    generators = list(dict.fromkeys(c["scenario"] for c in every))
    classics = list(dict.fromkeys(c["baseline"] for c in every))
    intro = prose(
        "comparisons",
        "every_classic",
        where=prose("comparisons", where),
        alpha=every[0].get("alpha", ALPHA),
        n=sum(c["tested"] for c in every),
        why=prose("comparisons", why),
    )
    lines = [intro, ""]
    for metric in dict.fromkeys(c["metric"] for c in every):
        cells = {(c["scenario"], c["baseline"]): c for c in every if c["metric"] == metric}
        lines += [f"{label(metric)}:", ""]
        for start in range(0, len(classics), CLASSICS_PER_TABLE):
            part = classics[start : start + CLASSICS_PER_TABLE]
            body = [[g, *(_cell(cells.get((g, k))) for k in part)] for g in generators]
            lines += [table(["generator", *part], body), ""]
    return lines


def _small_validation(rows: Sequence[dict], minority: Sequence[int]) -> list[str]:
    sizes = [r[f"n_val_c{k}"] for r in rows for k in minority if is_number(r.get(f"n_val_c{k}"))]
    if not sizes or min(sizes) >= SMALL_VALIDATION:
        return []
    return [prose("comparisons", "small_validation", n=min(sizes)), ""]


def best_classic(data: ReportData) -> list[str]:
    """The generators against the best classic fix (chosen on the test set's selection half,
    or else on validation), and against every classic fix."""
    lines = [prose("comparisons", "best_classic"), ""]
    if not data.on_halves:
        lines += _small_validation(data.rows, data.minority)
    if data.ranking:
        where = prose(
            "comparisons", "ranked_on_halves" if data.on_halves else "ranked_on_validation"
        )
        means = [[name, *(f"{m:.4f}" for m in means)] for name, means in data.ranking]
        ranking = table(["scenario", *map(label, data.choosing)], means)
        lines += [prose("comparisons", "ranking", where=where), "", ranking, ""]
    if not data.best_classic:
        classic = dict.fromkeys(r["scenario"] for r in data.rows if r.get("family") == "classic")
        present = ", ".join(classic) or "none"
        return lines + [prose("comparisons", "nothing_to_compare_with_classic", present=present)]
    how = prose("comparisons", "chosen_on_halves" if data.on_halves else "chosen_on_validation")
    return lines + [
        prose("comparisons", "question", how=how),
        "",
        *_comparison_table(data.best_classic, with_baseline=True),
        "",
        *_every_classic(data.every_classic, data.on_halves),
    ]
