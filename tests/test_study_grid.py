"""A study is a grid: every scenario (a data operation) with every classifier fix of
``study.fixes``. A run of scenario s with fix f is named s_f and is the same config as the
stacked scenario file of that name, so committed studies resume and their reports rebuild."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from imbalance_gan.record.rundir import first_difference
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.scenarios.grid import plan_runs

from .conftest import CONF

#: (scenario, fix): the stacked scenario file the pair must equal
STACKED = {
    ("original", "la"): "logit_adjust",
    ("original", "ldam_drw"): "ldam_drw",
    ("original", "crt"): "crt",
    ("elastic", "la"): "elastic_la",
    ("oversample_aug", "la"): "oversample_aug_la",
    ("projgan_affine", "la"): "projgan_affine_la",
    ("diffusion_affine", "la"): "diffusion_affine_la",
    ("mixup", "la"): "mixup_la",
}


def _plan(tmp_path: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="study", overrides=list(overrides))
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path)
        return plan_runs(cfg, list(overrides), tmp_path)


def _plain(cfg) -> dict:
    with open_dict(cfg):
        cfg.paths.output_dir = "x"
    return OmegaConf.to_container(cfg, resolve=True)


def test_the_grid_is_every_scenario_with_every_fix(tmp_path):
    runs = _plan(
        tmp_path,
        "study.scenarios=[original,oversample,elastic,projgan_affine]",
        "study.fixes=[none,la]",
        "study.seeds=[0,1]",
    )
    names = [name for seed, name, _ in runs if seed == 0]
    assert names == [
        "original",
        "logit_adjust",
        "oversample",
        "oversample_la",
        "elastic",
        "elastic_la",
        "projgan_affine",
        "projgan_affine_la",
    ]
    assert len(runs) == 16
    for seed, name, cfg in runs:
        assert cfg.scenario.name == name and cfg.seed == seed
        assert Path(cfg.paths.output_dir) == tmp_path / "runs" / f"seed{seed}" / name
        loss = cfg.classifier.loss._target_
        adjusted = name.endswith("_la") or name == "logit_adjust"
        assert loss.endswith(".LogitAdjusted") == adjusted, (name, loss)
    by_name = {name: cfg for seed, name, cfg in runs if seed == 0}
    assert by_name["original"].scenario.family == "reference"
    assert by_name["logit_adjust"].scenario.family == "classic"  # the plain data with a fix


@pytest.mark.parametrize("pair", sorted(STACKED))
def test_a_pair_is_the_same_run_as_its_stacked_scenario(pair, tmp_path):
    scenario, fix = pair
    (run,) = [
        cfg
        for _, name, cfg in _plan(
            tmp_path,
            f"study.scenarios=[{scenario}]",
            f"study.fixes=[{fix}]",
            "study.seeds=[0]",
            "study.baseline=null",
        )
    ]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        stacked = compose(config_name="classify", overrides=[f"scenario={STACKED[pair]}"])
    with open_dict(run):
        run.paths.artifact_dir = stacked.paths.artifact_dir
        run.resume = stacked.resume
    assert first_difference(_plain(stacked), _plain(run)) is None
    assert _plain(stacked) == _plain(run)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["study.scenarios=[logit_adjust]", "study.fixes=[la]", "study.baseline=null"],
            "already sets classifier/loss",
        ),
        (["study.fixes=[none,nope]"], "nope is not a fix of study.fix_overrides"),
        (["study.fixes=[la,la]"], "must not repeat"),
        (
            ["study.scenarios=[elastic,elastic_la]", "study.fixes=[none,la]"],
            "names elastic_la twice",
        ),
        (["study.scenarios=[original]", "study.fixes=[la]"], "study.baseline=original is not one"),
    ],
)
def test_an_impossible_grid_is_refused_before_any_run(overrides, message, tmp_path):
    with pytest.raises(UserError, match=message):
        _plan(tmp_path, "study.seeds=[0]", *overrides)
