"""``study``: a smoke study writes the report; it resumes; one failed run does not sink the rest."""

from __future__ import annotations

import csv
import json

import pytest

from .conftest import run_module

SCENARIOS = ["original", "dcgan", "weighted"]


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory):
    """3 scenarios (one a GAN's) x 2 seeds: ~110 s on 2 busy cores, so its tests are slow; the
    default suite has the failed-run study below (one seed, no GAN), its restart, and
    test_report.py's report of a made-up study (GAN figures and several seeds included)."""
    root = tmp_path_factory.mktemp("study")
    out = root / "out"
    args = [
        "experiment=smoke",
        f"study.scenarios=[{','.join(SCENARIOS)}]",
        "study.seeds=[0,1]",
        f"hydra.run.dir={out}",
        f"paths.artifact_dir={root / 'artifacts'}",
    ]
    proc = run_module("imbalance_gan.study", *args, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, args


@pytest.mark.slow  # covered fast: the failed-run study below, test_report's test_write_report_files
def test_study_writes_the_report(smoke_study):
    out, _ = smoke_study
    for name in ("report.md", "results.csv", "summary.csv", "study.json"):
        assert (out / name).stat().st_size > 0
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["scenario"], int(r["seed"])) for r in rows) == sorted(
        (s, seed) for s in SCENARIOS for seed in (0, 1)
    )
    with open(out / "summary.csv") as f:
        assert sorted(r["scenario"] for r in csv.DictReader(f)) == sorted(SCENARIOS)
    report = (out / "report.md").read_text()
    assert all(s in report for s in SCENARIOS)
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert {
        "class0_metrics.png",
        "confusion_original.png",
        "gan_selection.png",
        "samples_dcgan.png",
    } <= figures
    assert json.loads((out / "study.json").read_text())["seeds"] == [0, 1]


@pytest.mark.slow  # covered fast: test_restart_skips_the_finished_run_and_redoes_the_failed_one
def test_restart_redoes_only_unfinished_runs(smoke_study):
    out, args = smoke_study
    killed = out / "runs" / "seed1" / "weighted"
    (killed / "metrics.json").unlink()  # as if the study was killed during this run
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/metrics.json")}
    assert len(stamps) == 5
    proc = run_module("imbalance_gan.study", *args, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (killed / "metrics.json").is_file()
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # finished runs untouched
    assert "already finished, skipped" in proc.stderr + proc.stdout


@pytest.fixture(scope="module")
def failed_study(tmp_path_factory):
    """A study of two runs, one of which fails: its output dir, arguments and process."""
    root = tmp_path_factory.mktemp("failed_study")
    out = root / "out"
    # 4 training zeros: SMOTE with 5 neighbours cannot run; original can
    args = [
        "experiment=smoke",
        "study.scenarios=[original,smote]",
        "study.seeds=[0]",
        "data.minority_count=5",
        "data.val_fraction=0.2",
        f"hydra.run.dir={out}",
        f"paths.artifact_dir={root / 'artifacts'}",
    ]
    return out, args, run_module("imbalance_gan.study", *args, timeout=600)


def test_one_failed_run_is_reported_and_the_others_finish(failed_study):
    out, _, proc = failed_study
    assert proc.returncode == 1, proc.stderr[-2000:]
    for name in ("report.md", "results.csv", "summary.csv", "study.json"):
        assert (out / name).stat().st_size > 0
    with open(out / "results.csv") as f:
        assert [(r["scenario"], r["seed"]) for r in csv.DictReader(f)] == [("original", "0")]
    assert (out / "runs" / "seed0" / "original" / "metrics.json").is_file()
    failed = json.loads((out / "runs" / "seed0" / "smote" / "failed.json").read_text())
    assert failed["scenario"] == "smote" and "n_neighbors" in failed["error"]
    # the report's failed-runs table holds that run, its seed and its error, and no other run
    header, *rows = _failed_runs_table((out / "report.md").read_text())
    assert header == ["scenario", "seed", "error", "run dir"]
    assert rows == [["smote", "0", " ".join(failed["error"].split()), "`runs/seed0/smote`"]]


def test_restart_skips_the_finished_run_and_redoes_the_failed_one(failed_study):
    out, args, _ = failed_study
    finished = out / "runs" / "seed0" / "original" / "metrics.json"
    failed = out / "runs" / "seed0" / "smote" / "failed.json"
    stamps = {p: p.stat().st_mtime_ns for p in (finished, failed)}
    proc = run_module("imbalance_gan.study", *args, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]  # smote fails again
    assert finished.stat().st_mtime_ns == stamps[finished]  # the finished run untouched
    assert failed.stat().st_mtime_ns != stamps[failed]  # the failed one run again
    assert "seed 0, original already finished, skipped" in proc.stderr + proc.stdout
    assert "seed 0, smote already finished" not in proc.stderr + proc.stdout


def _failed_runs_table(report: str) -> list[list[str]]:
    """The cells of the table in the report's "## Failed runs" section, header first."""
    assert report.count("\n## Failed runs\n") == 1, report
    section = report.split("\n## Failed runs\n")[1].split("\n## ")[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|") and "---" not in ln]
    return [[cell.strip() for cell in ln.strip("|").split("|")] for ln in lines]
