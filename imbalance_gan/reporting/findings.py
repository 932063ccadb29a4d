""" "What it found": one small table per committed study, made from its ``results.csv`` and
``study.json`` alone, for the top of the README (``python -m imbalance_gan.report --findings``).

Per study: the best non-generative fix and the best generative scenario, each by its mean
minority F1 over seeds *on the test set* (as the report's every-classic table, which chooses
nothing; the validation split of a rare class is too small to choose), and the paired
difference generative - fix on minority F1 and recall with its t-test p.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

from imbalance_gan.reporting.columns import key_metrics
from imbalance_gan.reporting.stats import paired_difference
from imbalance_gan.reporting.tables import p_text, table
from imbalance_gan.runtime.errors import UserError

#: the README's markers around the generated section
BEGIN = (
    "<!-- findings: made by `python -m imbalance_gan.report --findings`; edit that, not this -->"
)
END = "<!-- findings: end -->"
#: families that are fixes a generator is compared with (reference scenarios are not fixes)
FIX_FAMILIES = ("classic",)


def _read(root: Path) -> tuple[list[dict], dict]:
    path = root / "results.csv"
    if not path.is_file():
        raise UserError(f"{root} holds no results.csv: not a finished study or report")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    study_path = root / "study.json"
    study = json.loads(study_path.read_text()) if study_path.is_file() else {}
    return rows, study


def _minority(rows: Sequence[dict]) -> list[int]:
    return sorted({int(c.split("_c")[1]) for c in rows[0] if c.startswith("test/f1_c")})


def _per_seed(rows: Sequence[dict], scenario: str, metric: str) -> dict[int, float]:
    return {
        int(r["seed"]): float(r[metric])
        for r in rows
        if r["scenario"] == scenario and r.get(metric) not in (None, "")
    }


def _best(rows: Sequence[dict], families: Sequence[str], f1: str) -> str | None:
    means = {}
    for name in dict.fromkeys(r["scenario"] for r in rows if r["family"] in families):
        values = list(_per_seed(rows, name, f1).values())
        means[name] = sum(values) / len(values)
    return max(means, key=lambda k: (means[k], k)) if means else None


def _dataset(root: Path, rows: Sequence[dict]) -> str | None:
    """The dataset the runs trained on, from the first run record (results.csv has no column)."""
    try:
        name = json.loads((root / rows[0]["run_dir"] / "metrics.json").read_text())["dataset"]
    except (OSError, ValueError, KeyError):
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
    rows, study = _read(Path(root))
    minority = _minority(rows)
    f1, recall = key_metrics(minority)
    fix = _best(rows, FIX_FAMILIES, f1)
    gen = _best(rows, ("generative",), f1)
    epochs = {r["epochs"] for r in rows}
    protocol = (
        f"`experiment={study.get('experiment') or rows[0]['experiment']}`, classifier "
        f"{' / '.join(sorted(epochs))} epochs"
    )
    lines = [f"**{_setting(Path(root), rows, minority)}** ({protocol}; [report]({link}))", ""]
    if fix is None or gen is None:
        return lines + ["No fix or no generative scenario in these runs: nothing to compare.", ""]
    body = []
    for name, what in ((fix, "best fix"), (gen, "best generative")):
        cells = []
        for m in (f1, recall):
            values = list(_per_seed(rows, name, m).values())
            cells.append(f"{sum(values) / len(values):.4f}")
        body.append([what, f"`{name}`", *cells])
    diffs = []
    for m in (f1, recall):
        a, b = _per_seed(rows, gen, m), _per_seed(rows, fix, m)
        seeds = sorted(set(a) & set(b))
        d = paired_difference([a[s] for s in seeds], [b[s] for s in seeds])
        p = d["p_value"]
        diffs.append(
            f"{d['mean_diff']:+.4f} (p {p_text(p) if not math.isnan(p) else '—'}, n {d['n']})"
        )
    body.append(["generative − fix", "paired by seed", *diffs])
    name = "classes" if len(minority) > 1 else f"class {minority[0]}"
    head = ["", "scenario", f"{name} F1" if len(minority) == 1 else "minority F1"]
    head.append(f"{name} recall" if len(minority) == 1 else "minority recall")
    return lines + [table(head, body), ""]


def findings(studies: Sequence[tuple[Path, str]]) -> str:
    """The README's "What it found" text between its markers, for (study folder, link) pairs."""
    lines = [
        BEGIN,
        "",
        "The best fix and the best generative scenario are each the one with the highest mean "
        "minority F1 over seeds on the test set (nothing is chosen on validation, whose few "
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
