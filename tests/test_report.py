"""Aggregation and report: statistics against scipy, files and CLI behaviour on hand-made runs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imsave
from omegaconf import OmegaConf
from scipy import stats as sps

from imbalance_gan.record import write_failure
from imbalance_gan.report import main
from imbalance_gan.reporting.aggregate import (
    best_classic,
    compare_to_baseline,
    compare_to_best_classic,
    compare_to_every_classic,
    summarize,
)
from imbalance_gan.reporting.build import write_report
from imbalance_gan.reporting.collect import collect_runs, read_sweep_plan
from imbalance_gan.reporting.columns import run_columns
from imbalance_gan.reporting.stats import holm, mean_ci, paired_difference
from imbalance_gan.runtime.errors import UserError

from .conftest import run_module

PNG = b"\x89PNG\r\n\x1a\n"
SEEDS = (0, 1, 2)
# Known per-seed class-0 (F1, recall) for each scenario.
KNOWN = {
    "original": ([0.970, 0.975, 0.968], [0.950, 0.960, 0.945]),
    "dcgan": ([0.980, 0.978, 0.985], [0.970, 0.972, 0.975]),
    "oversample": ([0.972, 0.974, 0.970], [0.955, 0.958, 0.951]),
}


def _t_interval(values: list[float]) -> tuple[float, float, float]:
    m = float(np.mean(values))
    low, high = sps.t.interval(0.95, len(values) - 1, loc=m, scale=sps.sem(values))
    return m, float(low), float(high)


FAMILY = {"original": "reference", "dcgan": "generative", "oversample": "classic"}


def _metrics_json(
    run_dir: Path,
    scenario: str,
    seed: int,
    gan_dir: Path | None = None,
    *,
    family: str | None = None,
    val_recall: float | None = None,
    collapsed: bool = False,
    known: dict | None = None,
    minority: tuple[int, ...] = (0,),
) -> None:
    f1, recall = (known or KNOWN)[scenario][0][seed], (known or KNOWN)[scenario][1][seed]
    confusion = (np.eye(10, dtype=int) * 950 + seed + 1).tolist()
    gan_run = None
    if gan_dir is not None:
        gan_dir.mkdir(parents=True, exist_ok=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        imsave(run_dir / "gan_samples.png", np.zeros((8, 8)))  # classify copies the GAN's grid
        gan_run = {
            "dir": f"gan/dcgan-seed{seed}",
            "gan": "dcgan",
            "metrics": {
                "best_epoch": 6 + seed,
                "selection/fd_train": 3.0 + seed,
                "eval/fd_test": 4.0,
                "eval/precision": 0.8,
                "eval/recall": 0.7,
                "eval/n_real": 270,
                "eval/n_fake": 5700,
                "wall_time_s": 300.0,
                "score_history": [[2, 10.0], [4, 8.0 - seed], [6, 5.0], [8, 6.0]],
                "collapsed": collapsed,
                "collapse_reason": "recall 0.010 < selection.recall_floor=0.3"
                if collapsed
                else None,
            },
        }
    val_recall = recall if val_recall is None else val_recall
    record = {
        "kind": "classify",
        "scenario": scenario,
        "family": family or FAMILY.get(scenario),
        "minority_classes": list(minority),
        "seed": seed,
        "experiment": "quick",
        "best_epoch": 4,
        "wall_time_s": 80.0,
        "device": "cpu",
        "epochs": 5,
        "train_counts": {
            "real": [270] + [6000] * 9,
            "added": [5730 * (gan_dir is not None)] + [0] * 9,
            "total": [6000] * 10,
        },
        "gan_run": gan_run,
        "metrics": {
            "test/accuracy": 0.98 + seed / 1000,
            "test/f1_macro": 0.97,
            "test/auroc_macro": 0.999,
            "test/balanced_accuracy": 0.975,
            "test/precision": [0.99 - seed / 100] + [0.98] * 9,
            "test/recall": [recall] + [0.98] * 9,
            "test/f1": [f1] + [0.98] * 9,
            "test/confusion_matrix": confusion,
        },
        "val_metrics": {
            "val/precision": [0.99] * 10,
            "val/recall": [val_recall] * 10,
            "val/f1": [f1] * 10,
        },
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(record))


def make_study(root: Path, seeds=SEEDS, scenarios=tuple(KNOWN)) -> Path:
    """A study layout: <root>/runs/seed<s>/<scenario>/, GAN runs under <root>/gans/."""
    for seed in seeds:
        for scenario in scenarios:
            gan = root / "gans" / f"seed{seed}" / "dcgan" if scenario == "dcgan" else None
            _metrics_json(root / "runs" / f"seed{seed}" / scenario, scenario, seed, gan)
            if gan is not None:  # the GAN run's own metrics.json must not count as a run
                (gan / "metrics.json").write_text('{"kind": "gan"}')
    return root


def make_multirun(root: Path) -> Path:
    """A Hydra multirun layout: <root>/0/, <root>/1/, ... one folder per job."""
    jobs = [(s, seed) for s in ("original", "oversample") for seed in SEEDS]
    for job, (scenario, seed) in enumerate(jobs):
        _metrics_json(root / str(job), scenario, seed)
    return root


def _multirun_yaml(root: Path, overrides: list[str], **config) -> None:
    """The sweep config Hydra saves at a multirun's root, cut to what the report reads."""
    root.mkdir(parents=True, exist_ok=True)
    OmegaConf.save({"hydra": {"overrides": {"task": overrides}}, **config}, root / "multirun.yaml")


def _fail(run_dir: Path, scenario: str, seed: int, error: str) -> None:
    run_dir.mkdir(parents=True)
    record = {"kind": "classify", "scenario": scenario, "seed": seed, "error": error}
    (run_dir / "failed.json").write_text(json.dumps(record))


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


# --- stats ---------------------------------------------------------------------------------------


def test_mean_ci_matches_scipy_t_interval() -> None:
    values = [0.970, 0.975, 0.968, 0.981]
    assert mean_ci(values) == pytest.approx(_t_interval(values), rel=1e-12)
    m, low, high = mean_ci(values, confidence=0.99)
    assert (low, high) == pytest.approx(
        sps.t.interval(0.99, 3, loc=np.mean(values), scale=sps.sem(values)), rel=1e-12
    )


def test_mean_ci_degenerate_inputs() -> None:
    m, low, high = mean_ci([0.5])
    assert m == 0.5 and math.isnan(low) and math.isnan(high)
    assert mean_ci([0.3, 0.3, 0.3]) == (0.3, 0.3, 0.3)
    assert all(math.isnan(v) for v in mean_ci([]))


def test_paired_difference_matches_ttest_rel() -> None:
    a, b = KNOWN["dcgan"][0], KNOWN["original"][0]
    res = paired_difference(a, b)
    diff = np.subtract(a, b).tolist()
    m, low, high = _t_interval(diff)
    assert res["n"] == 3
    assert (res["mean_diff"], res["low"], res["high"]) == pytest.approx((m, low, high), rel=1e-9)
    assert res["p_value"] == pytest.approx(sps.ttest_rel(a, b).pvalue, rel=1e-9)


def test_paired_difference_zero_variance_gives_no_p_value() -> None:
    shifted = paired_difference([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])
    assert math.isnan(shifted["p_value"]) and shifted["low"] == shifted["high"] == 0.5
    same = paired_difference([1.0, 2.0], [1.0, 2.0])
    assert math.isnan(same["p_value"]) and same["mean_diff"] == 0.0
    # float32 recalls 7 test images apart on every seed differ in their last bits only
    base = np.float32([950, 953, 961]) / np.float32(980)
    better = (np.float32([957, 960, 968]) / np.float32(980)).tolist()
    assert np.ptp(np.subtract(better, base.tolist())) > 0  # not bit-identical...
    assert math.isnan(paired_difference(better, base.tolist())["p_value"])  # ...but no test


def test_paired_difference_single_pair_and_bad_lengths() -> None:
    res = paired_difference([0.9], [0.8])
    assert res["n"] == 1 and math.isnan(res["p_value"]) and math.isnan(res["low"])
    with pytest.raises(ValueError):
        paired_difference([0.9, 0.8], [0.8])


def test_holm_step_down() -> None:
    adjusted = holm([0.01, 0.04, float("nan"), 0.03])
    assert adjusted[0] == pytest.approx(0.03)
    assert adjusted[3] == pytest.approx(0.06) and adjusted[1] == pytest.approx(0.06)
    assert math.isnan(adjusted[2])


# --- collection and aggregation ------------------------------------------------------------------


def test_collect_runs_nested_study(tmp_path: Path) -> None:
    rows, failures, minority = collect_runs(make_study(tmp_path))
    assert failures == [] and len(rows) == 9  # the GAN's own metrics.json is not a classify run
    assert minority == [0]  # the runs' own minority classes
    assert [r["scenario"] for r in rows[:3]] == ["original"] * 3  # original first, by seed
    dcgan = next(r for r in rows if r["scenario"] == "dcgan" and r["seed"] == 1)
    assert dcgan["test/f1_c0"] == KNOWN["dcgan"][0][1]
    assert dcgan["test/recall_c0"] == KNOWN["dcgan"][1][1]
    assert dcgan["n_real_c0"] == 270 and dcgan["n_added_c0"] == 5730
    assert dcgan["gan/best_epoch"] == 7 and dcgan["selection/fd_train"] == 4.0
    assert "gan/best_epoch" not in rows[0]


def test_runs_are_ordered_by_the_study_list_else_by_family_then_name(tmp_path: Path) -> None:
    known = {**KNOWN, **{s: KNOWN["original"] for s in ("zeta", "alpha", "full")}}
    for scenario, family in [("zeta", "classic"), ("alpha", "generative")]:
        _metrics_json(tmp_path / "runs" / scenario, scenario, 0, family=family, known=known)
    make_study(tmp_path, seeds=(0,))
    rows, _, _ = collect_runs(tmp_path)
    assert [r["scenario"] for r in rows] == ["original", "oversample", "zeta", "alpha", "dcgan"]
    (tmp_path / "study.json").write_text(json.dumps({"scenarios": ["dcgan", "zeta"]}))
    rows, _, _ = collect_runs(tmp_path)
    assert [r["scenario"] for r in rows] == ["dcgan", "zeta", "original", "oversample", "alpha"]
    (tmp_path / "study.json").unlink()  # a sweep: the baseline first, then family and name
    _metrics_json(tmp_path / "runs" / "full", "full", 0, family="reference", known=known)
    rows, _, _ = collect_runs(tmp_path)
    assert [r["scenario"] for r in rows] == [
        "original",
        "full",
        "oversample",
        "zeta",
        "alpha",
        "dcgan",
    ]


def test_the_report_names_the_classic_scenarios_of_its_runs(tmp_path: Path) -> None:
    make_study(tmp_path / "study", scenarios=("original", "oversample"))
    text = write_report(tmp_path / "study", tmp_path / "out").read_text()
    assert "(family `classic`; in these runs: oversample): nothing to compare" in text
    assert "smote" not in text


def test_collect_runs_flat_multirun_and_minority_class(tmp_path: Path) -> None:
    rows, _, _ = collect_runs(make_multirun(tmp_path), minority=[3])
    assert len(rows) == 6
    assert rows[0]["test/recall_c3"] == 0.98 and "test/recall_c0" not in rows[0]


def test_collect_runs_rejects_duplicate_runs(tmp_path: Path) -> None:
    make_study(tmp_path / "a")
    make_study(tmp_path / "b")
    with pytest.raises(UserError, match="two runs"):
        collect_runs(tmp_path)


def test_summarize_matches_independent_statistics(tmp_path: Path) -> None:
    rows, _, _ = collect_runs(make_study(tmp_path))
    summary = {s["scenario"]: s for s in summarize(rows)}
    assert list(summary) == ["original", "oversample", "dcgan"]  # by family, then name
    for scenario, (f1, recall) in KNOWN.items():
        s = summary[scenario]
        assert s["n_seeds"] == 3
        got = (s["test/f1_c0/mean"], s["test/f1_c0/ci_low"], s["test/f1_c0/ci_high"])
        assert got == pytest.approx(_t_interval(f1), rel=1e-9)
        assert s["test/recall_c0/mean"] == pytest.approx(np.mean(recall))


def test_compare_to_baseline_pairs_only_shared_seeds(tmp_path: Path) -> None:
    make_study(tmp_path, seeds=(0, 1, 2), scenarios=("original",))
    make_study(tmp_path, seeds=(1, 2), scenarios=("dcgan",))
    rows, _, _ = collect_runs(tmp_path)
    (f1,) = [c for c in compare_to_baseline(rows) if c["metric"] == "test/f1_c0"]
    a, b = KNOWN["dcgan"][0][1:], KNOWN["original"][0][1:]
    assert f1["n"] == 2 and not f1["tested"]
    assert f1["mean_diff"] == pytest.approx(np.mean(np.subtract(a, b)))
    assert f1["p_value"] == pytest.approx(sps.ttest_rel(a, b).pvalue)


def test_compare_to_baseline_holm_over_tested_comparisons() -> None:
    base = [0.90, 0.91, 0.92, 0.93]
    better, same = [0.95, 0.97, 0.96, 0.99], [0.91, 0.90, 0.93, 0.93]
    rows = [
        {"scenario": s, "seed": i, "m": v}
        for s, values in (("original", base), ("better", better), ("same", same))
        for i, v in enumerate(values)
    ]
    out = compare_to_baseline(rows, metrics=("m",))
    p = [sps.ttest_rel(better, base).pvalue, sps.ttest_rel(same, base).pvalue]
    assert [c["scenario"] for c in out] == ["better", "same"]
    assert [c["p_holm"] for c in out] == pytest.approx(holm(p))
    assert out[0]["p_holm"] < 0.05 < out[1]["p_holm"]
    assert compare_to_baseline(rows, baseline="nothing", metrics=("m",)) == []


# --- files and CLI -------------------------------------------------------------------------------


def test_write_report_files(tmp_path: Path) -> None:
    root, out = make_study(tmp_path / "study"), tmp_path / "out"
    report = write_report(root, out)
    assert report == out / "report.md"
    columns, results = _read_csv(out / "results.csv")
    assert columns == list(run_columns()) and len(results) == 9
    assert {(r["scenario"], r["seed"]) for r in results} == {
        (s, str(n)) for s in KNOWN for n in SEEDS
    }
    columns, summary = _read_csv(out / "summary.csv")
    assert [s["scenario"] for s in summary] == ["original", "oversample", "dcgan"]
    assert {"n_seeds", "test/f1_c0/mean", "test/f1_c0/ci_low", "test/f1_c0/ci_high"} <= set(columns)
    text = report.read_text()
    for scenario in KNOWN:
        assert f"| {scenario} |" in text
    for heading in (
        "## Protocol",
        "## Results",
        "## Paired comparison vs original",
        "## Generator quality",
        "## Figures",
    ):
        assert heading in text
    assert "Failed runs" not in text
    figures = [
        "class0_metrics.png",
        "confusion_original.png",
        "confusion_dcgan.png",
        "gan_selection.png",
        "samples_dcgan.png",
    ]
    for name in figures:
        data = (out / "figures" / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 100
        assert f"(figures/{name})" in text
    assert (out / "figures" / "samples_dcgan.png").read_bytes() == (
        root / "runs" / "seed0" / "dcgan" / "gan_samples.png"
    ).read_bytes()
    # the same report as one self-contained HTML page: every figure embedded, no path outside
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(list((out / "figures").glob("*.png")))
    assert "<table>" in page and 'src="figures/' not in page
    assert str(tmp_path) not in page and str(tmp_path) not in text


def test_write_report_defaults_to_root_and_reads_study_json(tmp_path: Path) -> None:
    root = make_study(tmp_path)
    study = {
        "experiment": "quick",
        "seeds": [0, 1, 2, 3],
        "scenarios": list(KNOWN),
        "hardware": "test box",
        "wall_time_s": 7200,
        "deviations": ["fewer epochs"],
    }
    (root / "study.json").write_text(json.dumps(study))
    text = write_report(root).read_text()
    assert "test box" in text and "fewer epochs" in text and "2 h 00 min" in text
    assert "seed 3" not in text and "| original | 3 |" in text  # missing runs are listed
    assert text.count("missing: no metrics.json") == 3


def test_failed_run_is_reported_and_cli_exits_1(tmp_path: Path, capsys) -> None:
    root = make_study(tmp_path)
    _fail(root / "runs" / "seed0" / "smote", "smote", 0, "CUDA out of memory")
    assert main([str(root)]) == 1
    captured = capsys.readouterr()
    assert str(root / "report.md") in captured.out and "| dcgan |" in captured.out
    assert "smote seed 0: CUDA out of memory" in captured.err
    text = (root / "report.md").read_text()
    assert "## Failed runs" in text and "| smote | 0 | CUDA out of memory |" in text


def test_multirun_lists_planned_runs_that_left_no_file_and_cli_exits_1(
    tmp_path: Path, capsys
) -> None:
    _multirun_yaml(tmp_path, ["scenario=original,dcgan", "seed=0,1", "experiment=smoke"])
    jobs = [("original", 0), ("original", 1), ("dcgan", 0), ("dcgan", 1)]
    for job, (scenario, seed) in enumerate(jobs[:3]):
        _metrics_json(tmp_path / str(job), scenario, seed)
    (tmp_path / "3" / ".hydra").mkdir(parents=True)  # started, then killed before metrics.json
    assert main([str(tmp_path)]) == 1
    missing = "missing: no metrics.json (run unfinished or killed)"
    assert f"dcgan seed 1: {missing}" in capsys.readouterr().err
    text = (tmp_path / "report.md").read_text()
    assert "1 run(s) failed or are missing" in text and f"| dcgan | 1 | {missing} | — |" in text


def test_read_sweep_plan_expands_like_hydra(tmp_path: Path) -> None:
    _multirun_yaml(tmp_path / "a", ["scenario=glob(o*)", "seed=range(2,4)", "+trainer.x=1"])
    assert read_sweep_plan(tmp_path / "a") == [
        ("original", 2),
        ("original", 3),
        ("oversample", 2),
        ("oversample", 3),
        ("oversample_aug", 2),
        ("oversample_aug", 3),
        ("oversample_aug_la", 2),
        ("oversample_aug_la", 3),
    ]
    _multirun_yaml(tmp_path / "b", ["experiment=smoke"], seed=5, scenario={"name": "smote"})
    assert read_sweep_plan(tmp_path / "b") == [("smote", 5)]  # the sweep config's own values
    _multirun_yaml(tmp_path / "c", ["seed=0,1"], task="train")  # a GAN sweep plans no classify run
    assert read_sweep_plan(tmp_path / "c") == [] == read_sweep_plan(tmp_path / "none")


def test_study_json_takes_precedence_over_multirun_yaml(tmp_path: Path) -> None:
    root = make_study(tmp_path, seeds=(0,))
    _multirun_yaml(root, ["scenario=original,smote"])
    (root / "study.json").write_text(json.dumps({"seeds": [0], "scenarios": ["original"]}))
    assert collect_runs(root)[1] == []


def test_failure_superseded_by_finished_run_is_dropped(tmp_path: Path) -> None:
    root = make_study(tmp_path)
    _fail(root / "retry" / "original0", "original", 0, "preempted")
    assert collect_runs(root)[1] == []


def test_unreadable_or_malformed_files_count_as_failures(tmp_path: Path) -> None:
    root = make_study(tmp_path)
    (root / "torn").mkdir()
    (root / "torn" / "metrics.json").write_text('{"kind": "classi')
    (root / "short").mkdir()
    (root / "short" / "metrics.json").write_text('{"kind": "classify", "scenario": "smote"}')
    errors = sorted(f["error"] for f in collect_runs(root)[1])
    assert errors[0].startswith("malformed metrics.json")
    assert errors[1].startswith("torn: unreadable metrics.json")


def test_a_torn_record_of_a_planned_run_is_one_failure_naming_its_dir(tmp_path: Path) -> None:
    root = make_study(tmp_path)
    (root / "study.json").write_text(json.dumps({"scenarios": list(KNOWN), "seeds": list(SEEDS)}))
    (root / "runs" / "seed1" / "oversample" / "metrics.json").write_text('{"kind": "cl')
    (failure,) = collect_runs(root)[1]
    assert (failure["scenario"], failure["seed"]) == ("oversample", 1)
    assert failure["error"].startswith("runs/seed1/oversample: unreadable metrics.json")


@pytest.mark.parametrize("kind", ["empty", "missing"])
def test_cli_without_runs_exits_2_and_writes_nothing(tmp_path: Path, capsys, kind: str) -> None:
    target = tmp_path / "runs"
    if kind == "empty":
        target.mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main([str(target), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == (["runs"] if kind == "empty" else [])
    assert kind == "missing" or list(target.iterdir()) == []


def test_module_entry_point(tmp_path: Path) -> None:
    proc = run_module("imbalance_gan.report", str(tmp_path), timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: no finished classify runs")
    proc = run_module("imbalance_gan.report", str(make_multirun(tmp_path)), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == str(tmp_path / "report.md")


# --- honest evaluation ---------------------------------------------------------------------------


def test_zero_variance_comparison_has_no_p_and_is_left_out_of_holm() -> None:
    base = [0.90, 0.91, 0.92]
    rows = [
        {"scenario": s, "seed": i, "m": v}
        for s, values in (
            ("original", base),
            ("shifted", [v + 0.01 for v in base]),  # the same difference on every seed
            ("noisy", [0.95, 0.93, 0.99]),
        )
        for i, v in enumerate(values)
    ]
    shifted, noisy = compare_to_baseline(rows, metrics=("m",))
    assert shifted["scenario"] == "shifted" and not shifted["tested"] and "p_holm" not in shifted
    assert math.isnan(shifted["p_value"])
    # Holm over one test: the adjusted p is the raw one
    assert noisy["tested"] and noisy["p_holm"] == pytest.approx(noisy["p_value"])


def _classic_study(root: Path) -> Path:
    """Two classic fixes: `oversample` wins on the test set, `affine` on validation."""
    known = {
        "original": ([0.96] * 3, [0.94, 0.95, 0.93]),
        "oversample": ([0.99] * 3, [0.99, 0.985, 0.995]),
        "affine": ([0.97] * 3, [0.96, 0.965, 0.955]),
        "dcgan": ([0.98] * 3, [0.97, 0.98, 0.975]),
    }
    val = {"original": 0.9, "oversample": 0.95, "affine": 0.99, "dcgan": 0.97}
    family = {"affine": "classic"}
    for seed in SEEDS:
        for scenario in known:
            gan = root / "gans" / f"seed{seed}" if scenario == "dcgan" else None
            _metrics_json(
                root / "runs" / f"seed{seed}" / scenario,
                scenario,
                seed,
                gan,
                family=family.get(scenario),
                val_recall=val[scenario] + seed / 1000,
                collapsed=seed == 1 and scenario == "dcgan",
                known=known,
            )
    return root


def test_generators_are_compared_with_the_classic_fix_best_on_validation(tmp_path: Path) -> None:
    rows, _, _ = collect_runs(_classic_study(tmp_path))
    assert best_classic(rows, "val/recall_c0") == "affine"  # not oversample, the test-set best
    out = compare_to_best_classic(rows, [("test/recall_c0", "val/recall_c0")])
    assert [(c["scenario"], c["baseline"]) for c in out] == [("dcgan", "affine")]
    dcgan = [r["test/recall_c0"] for r in rows if r["scenario"] == "dcgan"]
    affine = [r["test/recall_c0"] for r in rows if r["scenario"] == "affine"]
    assert out[0]["p_value"] == pytest.approx(sps.ttest_rel(dcgan, affine).pvalue)
    named = compare_to_best_classic(rows, [("test/recall_c0", "val/recall_c0")], "oversample")
    assert named[0]["baseline"] == "oversample" and named[0]["chosen_on"].startswith("config")
    text = write_report(tmp_path).read_text()
    assert "## Generators vs the best classic fix" in text
    assert "| dcgan | affine | validation val/recall_c0 |" in text


def test_every_generator_is_compared_with_every_classic_fix(tmp_path: Path) -> None:
    rows, _, _ = collect_runs(_classic_study(tmp_path))
    out = compare_to_every_classic(rows, ["test/recall_c0"])
    assert sorted((c["scenario"], c["baseline"]) for c in out) == [
        ("dcgan", "affine"),
        ("dcgan", "oversample"),
    ]
    dcgan = [r["test/recall_c0"] for r in rows if r["scenario"] == "dcgan"]
    for c in out:
        other = [r["test/recall_c0"] for r in rows if r["scenario"] == c["baseline"]]
        assert c["p_value"] == pytest.approx(sps.ttest_rel(dcgan, other).pvalue)
    text = write_report(tmp_path).read_text()
    assert "| generator | affine | oversample |" in text  # classic scenarios by name
    assert "validation split holds only" not in text  # records without val_counts: no warning


def test_a_tiny_validation_split_is_flagged(tmp_path: Path) -> None:
    _classic_study(tmp_path)
    for path in tmp_path.glob("runs/*/*/metrics.json"):
        record = json.loads(path.read_text())
        record["val_counts"] = [3] + [600] * 9  # 30 zeros: 10% of them validate
        path.write_text(json.dumps(record))
    text = write_report(tmp_path).read_text()
    assert "The validation split holds only 3 image(s) of a minority class" in text
    _, rows = _read_csv(tmp_path / "results.csv")
    assert {r["n_val_c0"] for r in rows} == {"3"}


def test_study_baseline_is_honoured(tmp_path: Path) -> None:
    root = make_study(tmp_path)
    (root / "study.json").write_text(
        json.dumps({"seeds": list(SEEDS), "scenarios": list(KNOWN), "baseline": "oversample"})
    )
    text = write_report(root).read_text()
    assert "## Paired comparison vs oversample" in text
    assert "| original | class-0 F1 |" in text  # original is now compared, not the baseline


def test_a_collapsed_generator_is_marked_in_results_and_report(tmp_path: Path) -> None:
    root = _classic_study(tmp_path)
    write_report(root)
    _, results = _read_csv(root / "results.csv")
    flags = {(r["scenario"], r["seed"]): r["gan/collapsed"] for r in results if r["gan"]}
    assert flags == {("dcgan", "0"): "False", ("dcgan", "1"): "True", ("dcgan", "2"): "False"}
    text = (root / "report.md").read_text()
    assert "| dcgan ⚠ collapsed generator (1/3 seeds) |" in text
    assert "- dcgan, seed 1: recall 0.010 < selection.recall_floor=0.3" in text


def test_bounded_and_discrete_quantities_get_no_t_interval_outside_their_range() -> None:
    rows = [
        {"scenario": "x", "seed": i, "test/recall_c0": v, "gan/best_epoch": e, "eval/fd_test": f}
        for i, (v, e, f) in enumerate([(0.99, 10, 5.0), (0.70, 60, 9.0), (0.999, 90, 7.0)])
    ]
    (s,) = summarize(rows)
    # the t-interval of the recalls would reach past 1: no interval, the seeds instead
    assert s["test/recall_c0/ci_low"] is None and s["test/recall_c0/seeds"] == [0.99, 0.70, 0.999]
    assert s["gan/best_epoch/ci_low"] is None  # discrete: never a t-interval
    assert s["eval/fd_test/ci_low"] == pytest.approx(_t_interval([5.0, 9.0, 7.0])[1])


def test_no_absolute_path_in_any_report_file(tmp_path: Path) -> None:
    root, out = _classic_study(tmp_path / "study"), tmp_path / "out"
    failed = root / "runs" / "seed0" / "smote"
    try:
        raise OSError(f"cannot read {failed}/checkpoints/last.ckpt")
    except OSError as err:
        line = write_failure(failed, "classify", "smote", 0, err, {str(failed): "<run dir>"})
    assert line == "OSError: cannot read <run dir>/checkpoints/last.ckpt"
    assert str(failed) in (failed / "error.log").read_text()  # the traceback keeps the path
    write_report(root, out)
    for path in out.rglob("*"):
        if path.suffix in (".md", ".csv"):
            assert str(tmp_path) not in path.read_text(), path.name


def test_several_minority_classes_are_reported_with_their_mean(tmp_path: Path) -> None:
    for seed in SEEDS:
        for scenario in ("original", "oversample"):
            _metrics_json(tmp_path / f"{scenario}{seed}", scenario, seed, minority=(3, 5))
    rows, _, minority = collect_runs(tmp_path)
    assert minority == [3, 5]
    assert rows[0]["test/recall_minority"] == pytest.approx(
        (rows[0]["test/recall_c3"] + rows[0]["test/recall_c5"]) / 2
    )
    text = write_report(tmp_path).read_text()
    assert "rare classes 3, 5" in text and "minority mean recall" in text
    assert (tmp_path / "figures" / "minority_metrics.png").is_file()
    assert not (tmp_path / "figures" / "class0_metrics.png").exists()


def test_best_classic_ties_on_validation_are_broken_by_the_other_metric() -> None:
    rows = [
        {"scenario": s, "family": "classic", "seed": i, "val/recall_c0": 1.0, "val/f1_c0": f1}
        for s, f1 in (("oversample", 0.97), ("affine", 0.99))
        for i in range(3)
    ]
    assert best_classic(rows, "val/recall_c0") == "oversample"  # a tie: the first listed
    assert best_classic(rows, "val/recall_c0", "val/f1_c0") == "affine"
