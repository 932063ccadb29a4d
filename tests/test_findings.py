"""The README's "What it found" section is what ``report --findings`` makes of the committed
results, and the command picks the best fix and generator and pairs them as it says."""

from __future__ import annotations

import csv

import pytest

from imbalance_gan.reporting.findings import BEGIN, END, findings, replace_in
from imbalance_gan.runtime.errors import UserError

from .conftest import ROOT, run_module

STUDIES = ["results/diffusion_30", "results/diffusion_300", "results/fashion_300"]


def test_the_readme_section_is_the_commands_output():
    proc = run_module("imbalance_gan.report", "--findings", *STUDIES)
    assert proc.returncode == 0, proc.stderr[-2000:]
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(BEGIN) : readme.index(END) + len(END)]
    assert proc.stdout.strip() == section, (
        "README's findings are stale: run python -m imbalance_gan.report --findings "
        f"{' '.join(STUDIES)} --readme README.md"
    )


def _write(root, rows):
    cols = ["scenario", "family", "seed", "epochs", "experiment", "n_real_c0", "n_val_c0"]
    cols += ["test/f1_c0", "test/recall_c0", "run_dir"]
    root.mkdir()
    with open(root / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for scenario, family, seed, f1, recall in rows:
            w.writerow(
                {
                    "scenario": scenario,
                    "family": family,
                    "seed": seed,
                    "epochs": 2,
                    "experiment": "quick",
                    "n_real_c0": 27,
                    "n_val_c0": 3,
                    "test/f1_c0": f1,
                    "test/recall_c0": recall,
                    "run_dir": f"runs/seed{seed}/{scenario}",
                }
            )


def test_best_fix_and_generator_by_mean_f1_and_their_paired_difference(tmp_path):
    rows = [
        ("original", "reference", 0, 0.99, 0.99),  # a reference scenario is no fix
        ("original", "reference", 1, 0.99, 0.99),
        ("oversample", "classic", 0, 0.90, 0.80),
        ("oversample", "classic", 1, 0.92, 0.84),
        ("elastic", "classic", 0, 0.95, 0.90),
        ("elastic", "classic", 1, 0.97, 0.96),
        ("dcgan", "generative", 0, 0.91, 0.93),
        ("dcgan", "generative", 1, 0.92, 0.97),
    ]
    _write(tmp_path / "s", rows)
    text = findings([(tmp_path / "s", "s/report.md")])
    assert "class 0 cut to 30 images, 2 seeds" in text and "[report](s/report.md)" in text
    assert "| best fix | `elastic` | 0.9600 | 0.9300 |" in text
    assert "| best generative | `dcgan` | 0.9150 | 0.9500 |" in text
    # F1 differences -0.04 and -0.05 (mean -0.045); recall +0.03 and +0.01 (mean +0.02)
    assert "-0.0450 (p 0." in text and "+0.0200 (p 0." in text and "n 2)" in text


def test_no_generator_says_so_and_a_folder_without_results_is_one_line(tmp_path):
    _write(tmp_path / "s", [("oversample", "classic", 0, 0.9, 0.8)])
    assert "nothing to compare" in findings([(tmp_path / "s", "r.md")])
    with pytest.raises(UserError, match="no results.csv"):
        findings([(tmp_path / "none", "r.md")])
    with pytest.raises(UserError, match="no findings markers"):
        replace_in("# a README without them\n", "x")
