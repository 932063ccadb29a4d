"""The report says when it cannot judge: a generator whose feature network does not recognise
the rare class (or whose rare class has too few held-out images) reads "cannot judge" with the
reason, not a pass; a signature the probe tells from real images above ``probe.warn_above`` is
marked ⚠ as a shortcut, classic and generative scenarios alike; the selection score gets its
real-vs-real scale; records from before any of this report as they did."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from omegaconf import OmegaConf

from imbalance_gan import record
from imbalance_gan.generators.quality import cannot_judge_reasons, quality_floor_misses
from imbalance_gan.reporting.build import write_report
from imbalance_gan.reporting.collect import collect_runs

from .conftest import CONF
from .test_report import _read_csv, make_study

#: the selection config the runs use (its floors and when the numbers cannot judge)
SELECTION = OmegaConf.load(CONF / "selection" / "default.yaml")
GAN_CFG = OmegaConf.create(
    {
        "seed": 0,
        "experiment": "quick",
        "gan": {"name": "dcgan", "max_epochs": 4, "max_steps": None, "num_synthetic": 5730},
    }
)


def _gan_record(seed: int, feature_val_recall: float, n_held_out: int = 980) -> dict:
    """A generator record as the builder writes it, judged by the pipeline's own rules."""
    evaluation = {name: 0.5 for name in (*record.GAN_EVAL, *record.GAN_EVAL_SIZES)}
    evaluation.update(
        {
            "eval/recall": 0.7,
            "eval/minority_share": 0.9,
            # a network that recognises no real shirt: 0 of them, so any sample passes
            "eval/real_minority_share": feature_val_recall,
            record.FEATURE_VAL_RECALL: feature_val_recall,
            record.N_HELD_OUT: n_held_out,
            record.REAL_HALVES: 1.5 + seed,
        }
    )
    return record.gan_record(
        GAN_CFG,
        best_epoch=4,
        selection_score=2.0 + seed,
        evaluation=evaluation,
        score_history=[(4, 2.0 + seed)],
        minority=[0],
        real_minority_train=270,
        collapse_reasons=quality_floor_misses(evaluation, SELECTION),
        cannot_judge_reasons=cannot_judge_reasons(evaluation, SELECTION),
        device="cpu",
        hardware="test box",
        wall_time_s=100.0,
    )


def _edit_runs(root: Path, scenario: str, edit: Callable[[dict, int], None]) -> None:
    """Rewrite the classify records of ``scenario`` under ``root`` with ``edit(record, seed)``."""
    for path in root.glob(f"runs/seed*/{scenario}/metrics.json"):
        rec = json.loads(path.read_text())
        edit(rec, rec["seed"])
        path.write_text(json.dumps(rec))


def _current(rec: dict, signature: float | None = None, warn_above: float | None = 0.8) -> None:
    """Give a hand-made classify record what a current run records of the shortcut threshold
    (the upgrade fills what else it lacks, and keeps what it has)."""
    rec["signature_warn_above"] = warn_above
    if signature is not None:
        rec["signature_auc"] = signature


def test_a_generator_whose_feature_network_knows_no_rare_image_cannot_be_judged(tmp_path):
    root = make_study(tmp_path)

    def blind_on_seed_1(rec: dict, seed: int) -> None:
        _current(rec)
        gan = _gan_record(seed, feature_val_recall=0.0 if seed == 1 else 0.9)
        rec["gan_run"] = record.gan_run_info(Path("/cache/gan/dcgan-x"), gan)

    _edit_runs(root, "dcgan", blind_on_seed_1)
    for scenario in ("original", "oversample"):
        _edit_runs(root, scenario, lambda rec, seed: _current(rec))
    # the record: cannot judge, with the reason; not collapsed, as the floor passed trivially
    blind = _gan_record(1, feature_val_recall=0.0)
    assert blind["cannot_judge"] is True and blind["collapsed"] is False
    assert "selection.feature_recall_floor" in blind["cannot_judge_reason"]
    assert _gan_record(0, feature_val_recall=0.9)["cannot_judge"] is False
    text = write_report(root).read_text()
    quality = text[text.index("## Generator quality") :]
    assert "cannot judge (seeds)" in quality and "| 1/3 |" in quality
    assert "- dcgan, seed 1: the feature network recognises 0.000 of the validation images" in (
        quality
    )
    assert "Every generator the numbers could judge is above the quality floor." in quality
    assert "Every generator is above the quality floor." not in quality
    # the score's scale beside it, and the network's validation recall
    assert "`selection/fd_real_halves`" in quality and "`selection/feature_val_recall`" in quality
    _, rows = _read_csv(root / "results.csv")
    flags = {r["seed"]: r["gan/cannot_judge"] for r in rows if r["gan"]}
    assert flags == {"0": "False", "1": "True", "2": "False"}


def test_too_few_held_out_rare_images_cannot_judge_either(tmp_path):
    root = make_study(tmp_path, seeds=(0,), scenarios=("original", "dcgan"))

    def few(rec: dict, seed: int) -> None:
        _current(rec)
        gan = _gan_record(seed, feature_val_recall=0.9, n_held_out=20)
        rec["gan_run"] = record.gan_run_info(Path("/cache/gan/dcgan-x"), gan)

    _edit_runs(root, "dcgan", few)
    text = write_report(root).read_text()
    assert "- dcgan, seed 0: only 20 held-out images of a rare class" in text
    assert "selection.min_held_out=50" in text


def test_a_signature_above_the_threshold_is_a_shortcut_warning_classic_or_generative(tmp_path):
    root = make_study(tmp_path)
    _edit_runs(root, "original", lambda rec, seed: _current(rec))
    # copies: indistinguishable; the generator's images: told apart on two seeds of three
    _edit_runs(root, "oversample", lambda rec, seed: _current(rec, signature=0.97))
    _edit_runs(root, "dcgan", lambda rec, seed: _current(rec, signature=[0.97, 0.6, 0.85][seed]))
    text = write_report(root).read_text()
    results = text[text.index("## Results") :]
    assert "| oversample ⚠ shortcut: signature AUC > 0.8 (3/3 seeds) |" in results
    assert "| dcgan ⚠ shortcut: signature AUC > 0.8 (2/3 seeds) |" in results
    assert "| original |" in results  # nothing added: nothing to warn of
    signature = text[text.index("## Do the added images carry a signature?") :]
    assert "⚠ shortcut (seeds)" in signature and "Shortcut warning" in signature
    assert "- dcgan, seed 0: AUC 0.970 > 0.8" in signature
    assert "- dcgan, seed 1:" not in signature
    _, rows = _read_csv(root / "results.csv")
    assert {r["probe/signature_warn_above"] for r in rows} == {"0.8"}


def test_older_records_report_as_they_did(tmp_path):
    root = make_study(tmp_path)  # records of version 0: no threshold, no judgement, no scale
    _edit_runs(root, "oversample", lambda rec, seed: rec.update(signature_auc=0.97))
    rows, failures, _ = collect_runs(root)
    assert not failures and all(r["probe/signature_warn_above"] is None for r in rows)
    text = write_report(root).read_text()
    assert "⚠ shortcut" not in text and "Shortcut warning" not in text
    assert "cannot judge" not in text and "`selection/fd_real_halves`" not in text
    assert "Every generator is above the quality floor." in text
