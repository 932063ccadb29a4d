"""Choosing the best fix on one half of the test set and reporting on the other (issue 26):
the halves are stratified, disjoint and the same for every run; a run records each half's
metrics (checked on test_long_tail_fixes's smoke run); the report and the README findings choose on the selection half and measure on the
report half; the τ a logit adjustment chose on validation is shown, with a warning when the
validation split is too small to choose it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from imbalance_gan.classifier.metrics import classification_metrics, split_halves
from imbalance_gan.reporting.build import build_report
from imbalance_gan.reporting.findings import findings_section

from .test_report import _classic_study


def test_the_halves_are_stratified_disjoint_and_a_function_of_the_labels_alone():
    target = torch.tensor([0] * 981 + [1] * 40 + [2] * 7)[torch.randperm(1028)]
    halves = split_halves(target)
    select, report = halves["select"], halves["report"]
    assert len(set(select.tolist()) & set(report.tolist())) == 0
    assert sorted(select.tolist() + report.tolist()) == list(range(len(target)))
    for c, n in ((0, 981), (1, 40), (2, 7)):
        assert int((target[select] == c).sum()) == n // 2
        assert int((target[report] == c).sum()) == n - n // 2
    torch.manual_seed(123)  # the run's own seed changes nothing
    again = split_halves(target.clone())
    assert torch.equal(again["select"], select) and torch.equal(again["report"], report)


def assert_halves_match_predictions(out: Path) -> None:
    """The run in ``out`` recorded each half's metrics as its predictions.npz gives them (called
    by a test that has a finished smoke run: test_long_tail_fixes)."""
    record = json.loads((out / "metrics.json").read_text())["metrics"]
    pred = np.load(out / "predictions.npz")
    probs, target = torch.from_numpy(pred["y_prob"]), torch.from_numpy(pred["y_true"])
    for half, idx in split_halves(target).items():
        expected = classification_metrics(probs[idx], target[idx], prefix=half)
        for name in ("recall", "f1", "average_precision", "precision"):
            assert record[f"{half}/{name}"] == pytest.approx(expected[f"{half}/{name}"], abs=1e-6)
        assert f"{half}/confusion_matrix" not in record


def _with_halves(root: Path, select: dict, report: dict) -> Path:
    """Give every run of ``root`` class-0 metrics on the two halves: per scenario, a value per
    half (the same on every seed, shifted a little by the seed)."""
    for path in root.glob("runs/seed*/*/metrics.json"):
        record = json.loads(path.read_text())
        scenario, seed = record["scenario"], record["seed"]
        for half, values in (("select", select), ("report", report)):
            v = values[scenario] + seed / 1000
            for name in ("precision", "recall", "f1", "average_precision"):
                record["metrics"][f"{half}/{name}"] = [v] + [0.98] * 9
        path.write_text(json.dumps(record))
    return root


def test_the_report_chooses_on_the_selection_half_and_measures_on_the_report_half(tmp_path):
    # validation chooses affine (see _classic_study); the selection half chooses oversample
    select = {"original": 0.90, "oversample": 0.99, "affine": 0.95, "dcgan": 0.97}
    report = {"original": 0.91, "oversample": 0.96, "affine": 0.99, "dcgan": 0.98}
    root = _with_halves(_classic_study(tmp_path / "study"), select, report)
    report_md, _, _ = build_report(root)
    text = report_md.read_text()
    assert "| dcgan | oversample | selection half select/f1_c0 | class-0 F1 (report half) |" in text
    assert "| dcgan | affine | validation" not in text
    # the difference is the report half's: dcgan 0.98 - oversample 0.96 on every seed
    line = next(x for x in text.splitlines() if x.startswith("| dcgan | oversample | selection"))
    assert "+0.0200" in line
    csv = (root / "results.csv").read_text().splitlines()[0].split(",")
    assert "select/f1_c0" in csv and "report/average_precision_c0" in csv
    finding = "\n".join(findings_section(root, "report.md"))
    assert "chosen on the test set's selection half, measured on its report half" in finding
    assert "| best fix | `oversample` | 0.9610 |" in finding  # report-half mean over seeds 0-2


def test_records_without_halves_are_still_chosen_on_validation(tmp_path):
    root = _classic_study(tmp_path / "study")
    text = build_report(root)[0].read_text()
    assert "| dcgan | affine | validation val/" in text
    finding = "\n".join(findings_section(root, "report.md"))
    assert "chosen and measured on the whole test set" in finding


def test_the_report_shows_the_chosen_tau_and_warns_on_a_small_validation_split(tmp_path):
    root = _classic_study(tmp_path / "study")
    for path in root.glob("runs/seed*/affine/metrics.json"):
        record = json.loads(path.read_text())
        record["chosen_tau"], record["val_counts"] = 1.5 + record["seed"], [3] + [600] * 9
        path.write_text(json.dumps(record))
    text = build_report(root)[0].read_text()
    assert (
        "⚠ τ chosen on the validation split, by balanced accuracy (per seed): `affine` 1.5, "
        in text
    )
    assert "2.5, 3.5. The validation split holds only 3 image(s)" in text
