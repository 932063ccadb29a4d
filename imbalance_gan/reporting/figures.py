"""Report figures: plain matplotlib on the Agg canvas (no pyplot, no global backend state)."""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from imbalance_gan.classifier.figures import confusion_figure
from imbalance_gan.classifier.figures import new_figure as _figure
from imbalance_gan.record import GAN_SAMPLES, gan_metrics, score_history
from imbalance_gan.reporting.columns import key_metrics
from imbalance_gan.runtime.files import atomic_write, read_png

#: One generator run's selection history: (seed, epochs or steps, scores, chosen one or None,
#: unit).
History = tuple[int, Sequence[float], Sequence[float], float | None, str]


def save(fig: Figure, path: str | os.PathLike) -> Path:
    """Render ``fig`` to PNG and write it atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    return atomic_write(path, lambda f: f.write(buf.getvalue()))


def class_metrics(
    summary: Sequence[dict], metrics: dict[str, str], title: str, path: str | os.PathLike
) -> Path:
    """Dot-and-whisker plot of per-scenario means with 95% CI bars, and each seed's value as a
    small dot beside them; ``metrics``: column -> label."""
    fig = _figure(max(6.0, 1.0 + 0.9 * len(summary)), 4.5)
    ax = fig.subplots()
    x = np.arange(len(summary))
    width = 0.5 / max(1, len(metrics))
    for i, (name, label) in enumerate(metrics.items()):
        mean = np.array([s.get(f"{name}/mean", math.nan) for s in summary], dtype=float)
        low = np.array([s.get(f"{name}/ci_low", math.nan) for s in summary], dtype=float)
        high = np.array([s.get(f"{name}/ci_high", math.nan) for s in summary], dtype=float)
        # No interval (one seed) -> no whisker, rather than a misleading zero-width one.
        err = np.nan_to_num(np.vstack([mean - low, high - mean]), nan=0.0)
        offset = (i - (len(metrics) - 1) / 2) * width
        bars = ax.errorbar(x + offset, mean, yerr=err, fmt="o", capsize=4, label=label)
        color = bars.lines[0].get_color()
        for j, s in enumerate(summary):
            seeds = [v for v in s.get(f"{name}/seeds") or [] if v is not None]
            ax.plot([x[j] + offset + width / 3] * len(seeds), seeds, ".", color=color, alpha=0.5)
    # long names side by side overlap: slant them
    slant = {"rotation": 30, "ha": "right"} if max(len(s["scenario"]) for s in summary) > 9 else {}
    ax.set_xticks(x, [f"{s['scenario']}\n(n={s['n_seeds']})" for s in summary], **slant)
    ax.set_xlabel("scenario (n = seeds)")
    ax.set_ylabel("score on the test set (1 = perfect)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    return save(fig, path)


def confusion(matrix: np.ndarray, title: str, path: str | os.PathLike) -> Path:
    """Confusion matrix (rows = true class), coloured by row share, annotated with counts."""
    return save(confusion_figure(matrix, title), path)


def gan_selection(
    histories: dict[str, list[History]], path: str | os.PathLike, users: dict[str, list[str]]
) -> Path:
    """One panel per generator: selection score per evaluated epoch (or generator step, for a
    budget in steps), one line per seed; ``users``: the scenarios that used each generator (one
    trained generator serves several scenarios, so its curves are drawn once)."""
    fig = _figure(5.0 * len(histories), 4.4)
    axes = np.atleast_1d(fig.subplots(1, len(histories), squeeze=False)[0])
    for ax, (gan, runs) in zip(axes, histories.items(), strict=True):
        unit = runs[0][4]
        for seed, epochs, scores, best, _ in runs:
            (line,) = ax.plot(epochs, scores, label=f"seed {seed}")
            if best is not None and best in list(epochs):
                ax.plot([best], [scores[list(epochs).index(best)]], "o", color=line.get_color())
        used = textwrap.fill("used by " + ", ".join(users[gan]), 48)
        ax.set_title(f"{gan} (dot = chosen {unit})\n{used}", fontsize=9)
        ax.set_xlabel(f"generator training {unit}")
        ax.set_ylabel("selection score (Fréchet distance, lower is better)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend()
    return save(fig, path)


def file_stem(name: str) -> str:
    """``name`` (a scenario or generator name from a run record) as a safe file name stem:
    itself when it is made of letters, digits, ``_`` and ``-``; else those characters and a
    hash, so a name like ``../x`` never leaves the figures folder and two odd names never share
    a file."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9_-]+', '_', name)[:40]}_{digest}"


def write_figures(
    rows: Sequence[dict],
    summary: Sequence[dict],
    out_dir: str | os.PathLike,
    minority: Sequence[int] = (0,),
    baseline: str = "original",
    skipped: list[str] | None = None,
) -> list[tuple[str, str]]:
    """Write every report figure under ``out_dir/figures``: (caption, path relative to out_dir).
    ``rows`` carry their upgraded records (:func:`~imbalance_gan.reporting.collect.collect_runs`).
    A generator's sample grid that cannot be copied safely is not shown, and why appended to
    ``skipped``."""
    out_dir = Path(out_dir)
    made: list[tuple[str, str]] = []

    def add(caption: str, name: str) -> Path:
        made.append((caption, f"figures/{name}"))
        return out_dir / "figures" / name

    f1, recall = key_metrics(minority)
    who = f"Class-{minority[0]}" if len(minority) == 1 else "Minority-mean"
    stem = f"class{minority[0]}" if len(minority) == 1 else "minority"
    class_metrics(
        summary,
        {recall: f"{who} recall", f1: f"{who} F1"},
        f"{who} recall and F1 per scenario: mean ± 95% CI (Student t) over seeds (small dots: each seed)",
        add(f"{who} recall and F1 per scenario (mean, 95% CI)", f"{stem}_metrics.png"),
    )
    for scenario in _confusion_scenarios(summary, f1, baseline):
        runs = [r for r in rows if r["scenario"] == scenario]
        matrices = [r["record"]["metrics"]["test/confusion_matrix"] for r in runs]
        title = f"Confusion matrix, {scenario}: test set, mean counts over {len(runs)} seed(s)"
        confusion(
            np.mean(np.asarray(matrices, dtype=float), axis=0),
            title,
            add(f"Confusion matrix: {scenario}", f"confusion_{file_stem(scenario)}.png"),
        )
    histories: dict[str, list[History]] = {}
    users: dict[str, list[str]] = {}
    drawn: set[tuple] = set()
    for r in rows:
        history = score_history(r["record"])
        if history:
            gan = str(r["gan"])
            users.setdefault(gan, [])
            if r["scenario"] not in users[gan]:
                users[gan].append(r["scenario"])
            run = (gan, r["seed"], str(r["record"]["gan_run"]["dir"]))
            if run in drawn:  # the same trained generator behind another scenario
                continue
            drawn.add(run)
            epochs, scores = zip(*history, strict=True)
            unit = gan_metrics(r["record"])["selection_unit"]
            best = r.get("gan/best_step") if unit == "step" else r.get("gan/best_epoch")
            histories.setdefault(gan, []).append((r["seed"], epochs, scores, best, unit))
    if histories:
        gan_selection(
            histories, add("Generator selection score over training", "gan_selection.png"), users
        )
    for gan, run in _first_seed_per_gan(rows).items():
        samples = run["path"] / GAN_SAMPLES
        caption = f"Samples from the {gan} generator (seed {run['seed']})"
        if not os.path.lexists(samples):
            continue  # no grid was copied into the run, or it was deleted
        try:  # copied and embedded as is: only a small PNG of the run's own folder
            data = read_png(samples)
        except (OSError, ValueError) as err:
            why = err.strerror if isinstance(err, OSError) else err  # OSError's names the path
            if skipped is not None:
                skipped.append(f"{caption} not shown: {run['run_dir']}/{GAN_SAMPLES}: {why}")
            continue
        atomic_write(add(caption, f"samples_{file_stem(gan)}.png"), lambda f, d=data: f.write(d))
    return made


def _confusion_scenarios(summary: Sequence[dict], f1: str, baseline: str) -> list[str]:
    """The baseline and the other scenario with the highest mean minority-class F1."""
    names = [s["scenario"] for s in summary]
    others = [s for s in summary if s["scenario"] != baseline and f"{f1}/mean" in s]
    best = [max(others, key=lambda s: s[f"{f1}/mean"])["scenario"]] if others else []
    return [baseline] * (baseline in names) + best


def _first_seed_per_gan(rows: Sequence[dict]) -> dict[str, dict]:
    first: dict[str, dict] = {}
    for r in sorted(rows, key=lambda r: r["seed"]):
        if r.get("gan") and r.get("gan_dir"):
            first.setdefault(r["gan"], r)
    return first
