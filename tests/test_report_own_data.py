"""A report about the data it was run on: the original study's published numbers only in the
setting they were measured in, deviations rendered from what the runs recorded, the answer to
the title's question first, and results tables narrow enough for a page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from imbalance_gan.reporting.aggregate import summarize
from imbalance_gan.reporting.build import write_report
from imbalance_gan.reporting.collect import collect_runs
from imbalance_gan.reporting.deviations import deviations
from imbalance_gan.reporting.published import PUBLISHED, STUDY
from imbalance_gan.reporting.tables import fmt

from .test_report import SEEDS, _metrics_json, make_study

#: MNIST's training images per class with class 0 cut to 300 (training, then validation)
MNIST_REAL = [270, 6068, 5362, 5518, 5258, 4879, 5326, 5639, 5266, 5354]
MNIST_VAL = [30, 674, 596, 613, 584, 542, 592, 626, 585, 595]
#: what the quick profile's deviations say, interpolated from its config
QUICK = [
    "classifier trained {epochs} epochs instead of 20 (the LR schedule never fires)",
    "generators trained on a budget in generator steps instead of their paper epochs",
    "seeds {seeds} (the paper profile runs 5)",
]


def _edit(root: Path, **fields) -> Path:
    """Every classify record under ``root`` with ``fields`` set (a callable: of the record)."""
    for path in root.rglob("runs/*/*/metrics.json"):
        record = json.loads(path.read_text())
        record.update({k: v(record) if callable(v) else v for k, v in fields.items()})
        path.write_text(json.dumps(record))
    return root


def _mnist(root: Path, cut: int = 300) -> Path:
    """The hand-made study as runs of MNIST with class 0 cut to ``cut`` (all 10,000 tested)."""
    real = [cut - cut // 10, *MNIST_REAL[1:]]
    return _edit(
        root,
        dataset="mnist",
        val_counts=[cut // 10, *MNIST_VAL[1:]],
        train_counts=lambda r: {**r["train_counts"], "real": real},
        metrics=lambda r: {**r["metrics"], "test/confusion_matrix": [[1000] * 10] + [[0] * 10] * 9},
    )


def test_a_folder_study_holds_no_published_numbers_and_cites_no_outside_file(tmp_path):
    """Fashion-MNIST shirts in a folder: nothing of MNIST's published table, anywhere."""
    root = _mnist(make_study(tmp_path / "folder"))
    names = ["pullover", "shirt", "t-shirt"] + [f"other{k}" for k in range(7)]
    _edit(root, dataset="folder", class_names=names)
    text = write_report(root).read_text()
    assert "## Published numbers" not in text
    assert "published (single run" not in text
    assert not [f"{v:.4f}" for v in PUBLISHED["original"] if f"{v:.4f}" in text]
    assert "shared/" not in text and "../" not in text
    assert "rare class 0 (`pullover`)" in text.splitlines()[0]


@pytest.mark.parametrize(
    "change",
    [
        {"dataset": "fashion_mnist"},
        {"dataset": "cifar10"},
        {"minority_classes": [3]},  # another rare class
    ],
    ids=["fashion_mnist", "cifar", "another_class"],
)
def test_published_numbers_need_mnist_with_class_0_cut_to_300(tmp_path, change):
    root = _mnist(make_study(tmp_path / "s"))
    text = write_report(root, tmp_path / "mnist").read_text()
    # the published setting: the table, citing the paper, never a path outside the repository
    assert "## Published numbers from the original study" in text and STUDY in text
    assert "0.9859" in text and "shared/" not in text and "reference/" not in text
    cut30 = write_report(_mnist(make_study(tmp_path / "cut30"), cut=30), tmp_path / "o30")
    assert "## Published numbers" not in cut30.read_text()
    _edit(root, **change)
    other = write_report(root, tmp_path / "other").read_text()
    assert "## Published numbers" not in other and "0.9859" not in other


def _rows(epochs, seeds=SEEDS, schedule=None) -> list[dict]:
    fixes = {"scheduler": schedule} if schedule else None
    return [{"seed": s, "epochs": e, "record": {"fixes": fixes}} for s in seeds for e in [epochs]]


def test_a_deviation_the_recorded_values_contradict_is_not_printed():
    quick = [line.format(epochs=20, seeds=[0, 1, 2, 3, 4]) for line in QUICK]
    lines = deviations({"deviations": quick, "seeds": [0, 1, 2, 3, 4]}, _rows(20))
    # 20 epochs and 5 seeds are no deviation: neither line, and no "X instead of X"
    assert lines == [QUICK[1]]
    # the epochs the runs trained, whatever the profile's line said (min_steps may add some)
    budget = [
        "classifier trained 2 epochs (or more, to 380 optimiser steps on small data) "
        "instead of 20 (the LR schedule never fires)"
    ]
    assert deviations({"deviations": budget}, _rows(2)) == [
        "classifier trained 2 epochs instead of 20 (the LR schedule never fires)"
    ]
    # 35 epochs: the plateau schedule can fire, so the line does not say it never does
    assert deviations({"deviations": budget}, _rows(35)) == [
        "classifier trained 35 epochs instead of 20"
    ]
    cosine = {"_target_": "imbalance_gan.classifier.schedules.cosine"}
    assert deviations({"deviations": budget}, _rows(2, schedule=cosine)) == [
        "classifier trained 2 epochs instead of 20"
    ]
    three = [line.format(epochs=2, seeds=[0, 1, 2]) for line in QUICK]
    assert deviations({"deviations": three, "seeds": [0, 1, 2]}, _rows(2, (0, 1, 2))) == three
    # a profile that lists no epochs line still gets one when the runs trained other epochs
    assert deviations({"deviations": ["other"]}, _rows(5)) == [
        "classifier trained 5 epochs instead of 20",
        "other",
    ]
    assert deviations({"deviations": ["dcgan 2000 steps instead of 2000 steps"]}, _rows(20)) == []


def test_the_report_prints_no_deviation_equal_to_the_original(tmp_path):
    root = _edit(make_study(tmp_path), epochs=20)
    quick = [line.format(epochs=20, seeds=list(SEEDS)) for line in QUICK]
    study = {"experiment": "quick", "seeds": list(SEEDS), "deviations": quick}
    (root / "study.json").write_text(json.dumps(study))
    text = write_report(root).read_text()
    listed = text.split("- Deviations from the original study:")[1].split("\n\n")[0]
    assert "instead of 20" not in listed and "classifier trained" not in listed
    assert "generators trained on a budget" in listed and "seeds [0, 1, 2]" in listed
    assert not re.search(r"\b(\d+) (\w+) instead of \1\b", text)


def _answer(text: str) -> str:
    """What stands between the title and the first section."""
    head, rest = text.split("\n\n", 1)
    assert head.startswith("# Does synthetic data help")
    return rest.split("## ", 1)[0]


#: per-seed class-0 F1 on the test set, and on validation: on the test set `oversample` and
#: `cgan` lead, on validation `affine` and `dcgan` (what the answer must choose by)
TEST_F1 = {
    "original": [0.960, 0.950, 0.970],
    "oversample": [0.990, 0.985, 0.995],
    "affine": [0.970, 0.975, 0.965],
    "dcgan": [0.980, 0.986, 0.975],
    "cgan": [0.988, 0.990, 0.992],
}
VAL_F1 = {"original": 0.90, "oversample": 0.93, "affine": 0.99, "dcgan": 0.97, "cgan": 0.95}
FAMILIES = {"affine": "classic", "cgan": "generative"}


def _chosen_on_validation(root: Path) -> Path:
    known = {name: (f1, f1) for name, f1 in TEST_F1.items()}
    for seed in SEEDS:
        for name in TEST_F1:
            run = root / "runs" / f"seed{seed}" / name
            _metrics_json(run, name, seed, family=FAMILIES.get(name), known=known)
    return _edit(
        root,
        val_metrics=lambda r: {
            **r["val_metrics"],
            "val/f1": [VAL_F1[r["scenario"]] + r["seed"] / 1000] * 10,
        },
    )


def test_the_answer_comes_first_and_names_fix_generator_difference_and_verdict(tmp_path):
    root = _chosen_on_validation(tmp_path)
    # dcgan's images carry a signature above the threshold its runs recorded
    _edit(root, signature_auc=lambda r: 0.95 if r["scenario"] == "dcgan" else None)
    text = write_report(_edit(root, signature_warn_above=0.8)).read_text()
    answer = _answer(text)
    assert answer.startswith("**The answer** (class-0 F1 on the test set): ")
    # each the best of its kind on validation, not on the test set, with its warnings
    assert "- best classic fix: `affine`, 0.9700 ± " in answer
    shortcut = "⚠ shortcut: signature AUC > 0.8 (3/3 seeds)"
    assert f"- best generative scenario: `dcgan` {shortcut}, 0.9803 ± " in answer
    # the difference, interval, p and verdict of the report's own best-classic table
    (row,) = [
        line
        for line in text.splitlines()
        if line.startswith("| dcgan | affine | validation val/f1_c0 |")
    ]
    _, _, _, _, n, diff, ci, p, p_holm, verdict = row.removesuffix(" |").split(" | ")
    assert (
        f"- generative − fix, paired by seed: {diff}, 95% CI {ci} (n = {n}); p {p}, "
        f"Holm p {p_holm}; significant at 0.05: {verdict}"
    ) in answer
    assert verdict == "yes (also after Holm)" and diff.startswith("+")
    assert "**yes**: the best generative scenario beats the best classic fix" in answer


def test_without_a_generator_or_a_fix_the_answer_says_so(tmp_path):
    for seed in SEEDS:
        for scenario, family in (("original", "reference"), ("oversample", "classic")):
            _metrics_json(tmp_path / "fixes" / f"{scenario}{seed}", scenario, seed, family=family)
        for scenario, family in (("original", "reference"), ("dcgan", "generative")):
            _metrics_json(tmp_path / "gens" / f"{scenario}{seed}", scenario, seed, family=family)
        _metrics_json(tmp_path / "none" / f"original{seed}", "original", seed)
    fixes = _answer(write_report(tmp_path / "fixes").read_text())
    assert "no generative scenario" in fixes and "best classic fix on the validation" in fixes
    assert "`oversample`" in fixes and "Against `original` (test set): `oversample` −" in fixes
    gens = _answer(write_report(tmp_path / "gens").read_text())
    assert "no classic fix" in gens and "best generative scenario on the validation" in gens
    none = _answer(write_report(tmp_path / "none").read_text())
    assert "no generative scenario and no classic fix" in none and "here: original" in none


def _tables(text: str) -> list[list[str]]:
    """The header rows of every markdown table in ``text``."""
    lines = text.splitlines()
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line, below in zip(lines, lines[1:], strict=False)
        if line.startswith("| ") and below.startswith("|---")
    ]


def test_the_results_are_a_macro_table_and_one_table_per_rare_class(tmp_path):
    for seed in SEEDS:
        for scenario in ("original", "oversample"):
            _metrics_json(tmp_path / f"{scenario}{seed}", scenario, seed, minority=(3, 5))
    text = write_report(tmp_path).read_text()
    results = text.split("## Results")[1].split("\n## ")[0]
    headers = _tables(results)
    assert headers[0][:4] == ["scenario", "n seeds", "accuracy", "macro-F1"]
    assert not [h for h in headers[0] if "class" in h or "minority" in h]
    assert headers[1:] == [["scenario", "precision", "recall", "F1"]] * 3
    captions = re.findall(r"^(.*) metrics \(one row per scenario, as above\):$", results, re.M)
    assert captions == ["class-3", "class-5", "minority mean"]
    assert all(len(h) <= 8 for h in headers)  # none as wide as the 13+ columns were
    rows, _, _ = collect_runs(tmp_path)
    for s in summarize(rows):  # each cell the mean ± CI of its scenario and class
        cells = [fmt(s, f"test/{m}_c5") for m in ("precision", "recall", "f1")]
        assert f"| {s['scenario']} | {' | '.join(cells)} |" in results.split("class-5 metrics")[1]


def test_a_generator_against_many_classic_fixes_is_shown_in_tables_a_page_wide(tmp_path):
    classics = [f"fix{k}" for k in range(8)]
    known = {name: ([0.97, 0.975, 0.965], [0.95, 0.96, 0.94]) for name in ["dcgan", *classics]}
    for seed in SEEDS:
        for name in known:
            family = "generative" if name == "dcgan" else "classic"
            _metrics_json(tmp_path / f"{name}{seed}", name, seed, family=family, known=known)
    text = write_report(tmp_path).read_text()
    every = text.split("Every generative scenario against every classic one")[1].split("\n## ")[0]
    headers = _tables(every)
    assert len(headers) == 4  # F1 and recall, each in two tables
    assert all(len(h) <= 7 for h in headers)
    assert [c for h in headers[:2] for c in h if c != "generator"] == classics
