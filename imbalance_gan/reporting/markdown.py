"""report.md: a title and a list of sections (:data:`SECTIONS`), each a function of one
:class:`~imbalance_gan.reporting.report_data.ReportData` that returns its lines. The prose is in
``templates/`` beside this module (:mod:`~imbalance_gan.reporting.prose`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from imbalance_gan.reporting.aggregate import is_number
from imbalance_gan.reporting.answer import answer
from imbalance_gan.reporting.columns import SIGNATURE, SIGNATURE_WARN
from imbalance_gan.reporting.comparisons import SMALL_VALIDATION, best_classic, comparison
from imbalance_gan.reporting.deviations import deviations as deviations_of
from imbalance_gan.reporting.generator_quality import generator_quality
from imbalance_gan.reporting.prose import prose
from imbalance_gan.reporting.published import published
from imbalance_gan.reporting.report_data import ReportData
from imbalance_gan.reporting.shortcuts import shortcut
from imbalance_gan.reporting.tables import fmt, results_table, table


def _duration(seconds: float) -> str:
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min ({seconds:,.0f} s)"


def protocol(data: ReportData) -> list[str]:
    study, rows = data.study, data.rows

    def values(key: str) -> str:
        found = ", ".join(sorted({str(r[key]) for r in rows if r.get(key)}))
        return found or prose("protocol", "not_recorded")

    seeds = study.get("seeds") or sorted({r["seed"] for r in rows})
    if is_number(study.get("wall_time_s")):
        wall = prose("protocol", "wall_from_study", duration=_duration(study["wall_time_s"]))
    else:
        gans = {r["gan_dir"]: r.get("gan/wall_time_s") or 0.0 for r in rows if r.get("gan_dir")}
        total = sum(r["wall_time_s"] or 0.0 for r in rows) + sum(gans.values())
        wall = prose(
            "protocol",
            "wall_summed",
            duration=_duration(total),
            classify_runs=len(rows),
            generator_runs=len(gans),
        )
    if "deviations" not in study:
        deviations = prose("protocol", "unknown_deviations")
    else:
        listed = [prose("protocol", "deviation", deviation=d) for d in deviations_of(study, rows)]
        deviations = "\n".join(listed) or prose("protocol", "no_deviations")
    return [
        prose(
            "protocol",
            "section",
            runs=len(rows),
            experiment=study.get("experiment") or values("experiment"),
            minority=_named(data.minority, data.class_names),
            epochs=values("epochs"),
            seeds=", ".join(map(str, seeds)),
            n_seeds=len(seeds),
            scenarios=", ".join(dict.fromkeys(r["scenario"] for r in rows)),
            hardware=study.get("hardware") or values("hardware"),
            devices=values("device"),
            wall=wall,
            deviations=deviations,
        )
    ]


def results(data: ReportData) -> list[str]:
    text = results_table(data.summary, data.minority, data.collapsed, data.shortcuts)
    return [prose("results", "section", table=text), "", *_chosen_tau(data.rows, data.minority)]


def _chosen_tau(rows: Sequence[dict], minority: Sequence[int]) -> list[str]:
    """The τ each logit adjustment chose on validation, per seed, with a warning when the
    validation split holds too few minority images to choose it."""
    chosen: dict[str, list[str]] = {}
    for r in sorted(rows, key=lambda r: r["seed"]):
        if is_number(r.get("chosen_tau")):
            chosen.setdefault(r["scenario"], []).append(f"{float(r['chosen_tau']):g}")
    if not chosen:
        return []
    picked = [r for r in rows if r["scenario"] in chosen]
    sizes = [r[f"n_val_c{k}"] for r in picked for k in minority if is_number(r.get(f"n_val_c{k}"))]
    which = "; ".join(f"`{name}` {', '.join(taus)}" for name, taus in chosen.items())
    line = prose("results", "chosen_tau", chosen=which)
    if sizes and min(sizes) < SMALL_VALIDATION:
        line = prose("results", "chosen_tau_small_validation", line=line, n=int(min(sizes)))
    return [line, ""]


def _shortcut_seeds(rows: Sequence[dict]) -> dict[str, str]:
    """Scenario -> "flagged/judged" seeds of :func:`shortcut`, for the scenarios it can judge."""
    flags: dict[str, list[bool]] = {}
    for r in rows:
        if (flag := shortcut(r)) is not None:
            flags.setdefault(r["scenario"], []).append(flag)
    return {scenario: f"{sum(f)}/{len(f)}" for scenario, f in flags.items()}


def signature(data: ReportData) -> list[str]:
    """The signature probe per augmenting scenario, and the runs whose signature is a shortcut
    warning (its AUC above the ``probe.warn_above`` the run recorded; the column is there only
    where some run recorded one)."""
    seeds = _shortcut_seeds(data.rows)
    warn = ["⚠ shortcut (seeds)"] if seeds else []
    body = [
        [
            s["scenario"],
            s["n_seeds"],
            fmt(s, SIGNATURE, 3),
            *(seeds.get(s["scenario"], "—") for _ in warn),
        ]
        for s in data.summary
        if f"{SIGNATURE}/mean" in s
    ]
    if not body:
        return []
    lines = [
        prose(
            "signature",
            "section",
            table=table(["scenario", "n seeds", "signature AUC", *warn], body),
        )
    ]
    flagged = [
        f"- {r['scenario']}, seed {r['seed']}: AUC {r[SIGNATURE]:.3f} > {r[SIGNATURE_WARN]:g}"
        for r in data.rows
        if shortcut(r)
    ]
    return [*lines, "", prose("signature", "shortcuts"), "", *flagged] if flagged else lines


def failed(data: ReportData) -> list[str]:
    if not data.failures:
        return []
    body = [
        [
            f["scenario"],
            f["seed"],
            " ".join(f["error"].split()).replace("|", "/"),
            f"`{f['run_dir']}`" if f["run_dir"] else "—",
        ]
        for f in data.failures
    ]
    text = table(["scenario", "seed", "error", "run dir"], body)
    return [prose("report", "failed", n=len(data.failures), table=text)]


def figures(data: ReportData) -> list[str]:
    return [
        prose("report", "figures"),
        "",
        *(f"![{caption}]({path})\n" for caption, path in data.figures),
        *(f"- {why}" for why in data.skipped_figures),
    ]


#: report.md's sections, in order: each returns its lines ([] to leave itself out)
SECTIONS: tuple[Callable[[ReportData], list[str]], ...] = (
    answer,
    protocol,
    results,
    signature,
    best_classic,
    comparison,
    published,
    generator_quality,
    failed,
    figures,
)


def render_report(data: ReportData) -> str:
    """The text of report.md: the title, then each of :data:`SECTIONS` and a blank line."""
    names, minority = data.class_names, data.minority
    plural = "es" if len(minority) > 1 else ""
    title = prose("report", "title", plural=plural, classes=_named(minority, names))
    lines = [title, ""] + [line for section in SECTIONS for line in [*section(data), ""]]
    return name_classes("\n".join(lines), names, minority)


def _named(minority: Sequence[int], names: Sequence[str] | None) -> str:
    return ", ".join(f"{k} (`{names[k]}`)" if names else str(k) for k in minority)


def name_classes(text: str, names: Sequence[str] | None, minority: Sequence[int]) -> str:
    """``text`` with each minority class's metric labels (``class-0 recall``) naming the class
    (``class `defect` recall``) when the runs recorded names."""
    if not names:
        return text
    for k in minority:
        text = text.replace(f"class-{k} ", f"class `{names[k]}` ")
    return text
