""" "What it found": one small table per committed study, made from its ``results.csv`` and
``study.json`` alone, for the top of the README (``python -m imbalance_gan.report --findings``).

Per study: the best non-generative fix and the best generative scenario, each by its mean
minority F1 over seeds on the test set's *selection* half, and the paired difference
generative - fix on minority F1, recall and AP on its *report* half, with its t-test p (the
validation split of a rare class is too small to choose). Studies whose runs did not record
the halves choose and measure on the whole test set, as the report's every-classic table does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from imbalance_gan import record
from imbalance_gan.record.upgrade import upgrade
from imbalance_gan.reporting.aggregate import compare_to_every_classic, summarize
from imbalance_gan.reporting.columns import half_metrics, has_halves, key_metrics, read_results
from imbalance_gan.reporting.tables import p_text, table
from imbalance_gan.runtime.errors import UserError

#: the README's markers around the generated section
BEGIN = (
    "<!-- findings: made by `python -m imbalance_gan.report --findings`; edit that, not this -->"
)
END = "<!-- findings: end -->"
#: families that are fixes a generator is compared with (reference scenarios are not fixes)
FIX_FAMILIES = ("classic",)


def _study(root: Path) -> dict:
    path = root / "study.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _best(summary: Sequence[dict], names: Sequence[str], f1: str) -> str | None:
    """Of ``names``, the scenario with the highest mean ``f1`` (ties: the later name)."""
    means = {
        s["scenario"]: s[f"{f1}/mean"]
        for s in summary
        if s["scenario"] in names and f"{f1}/mean" in s
    }
    return max(means, key=lambda k: (means[k], k)) if means else None


def _dataset(root: Path, rows: Sequence[dict]) -> str | None:
    """The dataset the runs trained on, from the first run record (results.csv has no column)."""
    try:
        name = upgrade(record.read(root / rows[0]["run_dir"] / record.RECORD_FILE))["dataset"]
    except (record.RecordError, KeyError):
        return None
    return {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "kmnist": "KMNIST"}.get(name, name)


def _setting(root: Path, rows: Sequence[dict], minority: Sequence[int]) -> str:
    first = rows[0]
    dataset = _dataset(root, rows)
    real = [int(first[f"n_real_c{k}"]) + int(first.get(f"n_val_c{k}") or 0) for k in minority]
    classes = ", ".join(map(str, minority))
    seeds = sorted({int(r["seed"]) for r in rows})
    counts = " / ".join(map(str, sorted(set(real))))
    what = f"class{'es' if len(minority) > 1 else ''} {classes} cut to {counts} images"
    return f"{dataset + ', ' if dataset else ''}{what}, {len(seeds)} seeds"


def findings_section(root: Path, link: str) -> list[str]:
    """The markdown of one study's finding; ``link`` is its report's path as the README has it."""
    rows, minority = read_results(root)
    study = _study(Path(root))
    if has_halves(rows, minority):
        f1, recall, _, ap = half_metrics(minority, "report")
        shown, pick = (f1, recall, ap), half_metrics(minority, "select")[0]
        where = "chosen on the test set's selection half, measured on its report half"
    else:  # runs without the halves: the whole test set chooses and measures
        shown = key_metrics(minority)
        pick = shown[0]
        where = "chosen and measured on the whole test set"
    summary = {s["scenario"]: s for s in summarize(rows, (*shown, pick))}
    family = {r["scenario"]: r["family"] for r in rows}
    fix = _best(summary.values(), [n for n, f in family.items() if f in FIX_FAMILIES], pick)
    gen = _best(summary.values(), [n for n, f in family.items() if f == "generative"], pick)
    epochs = {str(r["epochs"]) for r in rows}
    protocol = (
        f"`experiment={study.get('experiment') or rows[0]['experiment']}`, classifier "
        f"{' / '.join(sorted(epochs))} epochs"
    )
    lines = [
        f"**{_setting(Path(root), rows, minority)}** ({protocol}; {where}; [report]({link}))",
        "",
    ]
    if fix is None or gen is None:
        return lines + ["No fix or no generative scenario in these runs: nothing to compare.", ""]
    body = [
        [what, f"`{name}`", *(f"{summary[name][f'{m}/mean']:.4f}" for m in shown)]
        for name, what in ((fix, "best fix"), (gen, "best generative"))
    ]
    # the pair's paired difference, as the report's every-classic table computes it (its p is
    # the uncorrected one: the two were chosen, not tested among all)
    pair = {
        c["metric"]: c
        for c in compare_to_every_classic(rows, shown)
        if c["scenario"] == gen and c["baseline"] == fix
    }
    diffs = [
        f"{pair[m]['mean_diff']:+.4f} (p {p_text(pair[m]['p_value'])}, n {pair[m]['n']})"
        for m in shown
    ]
    body.append(["generative − fix", "paired by seed", *diffs])
    name = f"class {minority[0]}" if len(minority) == 1 else "minority"
    head = ["", "scenario", *(f"{name} {what}" for what in ("F1", "recall", "AP")[: len(shown)])]
    return lines + [table(head, body), ""]


def findings(studies: Sequence[tuple[Path, str]]) -> str:
    """The README's "What it found" text between its markers, for (study folder, link) pairs."""
    lines = [
        BEGIN,
        "",
        "The best fix and the best generative scenario are each the one with the highest mean "
        "minority F1 over seeds: on the test set's selection half, every number then measured "
        "on its report half (the halves share no image), where the runs recorded them; on the "
        "whole test set for studies run before (nothing is chosen on validation, whose few "
        "minority images cannot tell the strong scenarios apart); p is a paired t-test over "
        "seeds, not corrected for the choice of the two. Each setting's report has every "
        "scenario, with intervals and Holm-corrected tests.",
        "",
    ]
    for root, link in studies:
        lines += findings_section(root, link)
    return "\n".join([*lines, END])


def replace_in(readme: str, section: str) -> str:
    """``readme`` with the text between the markers replaced by ``section``."""
    if BEGIN not in readme or END not in readme:
        raise UserError("the README has no findings markers to replace between")
    head, rest = readme.split(BEGIN, 1)
    return head + section + rest.split(END, 1)[1]
