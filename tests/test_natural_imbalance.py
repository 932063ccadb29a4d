"""Data that arrives imbalanced: a folder whose class is already rare (written here from the
real MNIST's 0, 1 and 2 as `normal` and `other` with 60 training images each and `rare` with
12, in that sorted order) is studied as it is.
The rare class is the named one, or the one below ``data.rare_below`` of the largest, with no
image removed; a top-up scenario tops it up, and one with nothing to add is refused; a rare
class the study leaves alone is named in a warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from torchvision.io import write_png

from imbalance_gan.classifier.pipeline import classify
from imbalance_gan.classifier.rules import check_classify_config
from imbalance_gan.data import IDXSource, split_from_config
from imbalance_gan.runtime.errors import UserError

from .conftest import DATA, make_cfg, run_module

TRAIN = {0: 60, 1: 60, 2: 12}  # per class: `rare` arrives rare
NAMES = ["normal", "other", "rare"]


@pytest.fixture(scope="module")
def rare_folder(tmp_path_factory) -> Path:
    """``<root>/{train,test}/<name>/<i>.png``: the first real MNIST images of 0, 1 and 2."""
    root = tmp_path_factory.mktemp("rare_folder")
    src = IDXSource("mnist", str(DATA))
    for split, train in (("train", True), ("test", False)):
        x, y = src.load(train)
        for c, name in enumerate(NAMES):
            (root / split / name).mkdir(parents=True)
            n = TRAIN[c] if train else 20
            for i in (y == c).nonzero().flatten()[:n].tolist():
                write_png(x[i][None], str(root / split / name / f"{i:05d}.png"))
    return root


def _cfg(root: Path, tmp_path: Path, *overrides: str):
    data = ["data=folder", f"data.path={root}", "experiment=smoke", "data.top_up_to=null"]
    return make_cfg("classify", [*data, *overrides], tmp_path / "run")


@pytest.mark.parametrize(
    "named", [None, "[rare]", "[2]"], ids=["below_rare_below", "name", "index"]
)
def test_a_class_that_arrives_rare_is_the_rare_class_and_nothing_is_cut(
    named, rare_folder, tmp_path
):
    extra = [f"data.minority_classes={named}"] if named else []
    split = split_from_config(_cfg(rare_folder, tmp_path, *extra).data)
    assert split.minority == (2,) and list(split.counts) == [60, 60, 12]
    assert list(split.available_counts) == [60, 60, 12]
    assert len(split.train_y) + len(split.val_y) == 132  # every image kept
    assert split.rare_class_warning() is None


def test_every_top_up_adds_to_the_rare_class_and_the_report_names_it(rare_folder, tmp_path):
    cfg = _cfg(rare_folder, tmp_path, "data.minority_classes=[rare]", "scenario=oversample")
    run = classify(cfg)
    counts = run["train_counts"]
    assert run["minority_classes"] == [2] and counts["real"] == [
        54,
        54,
        11,
    ]  # 10% held out per class
    assert counts["added"] == [0, 0, 43] and counts["total"] == [54, 54, 54]
    out = tmp_path / "report"
    proc = run_module("imbalance_gan.report", str(tmp_path / "run"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (out / "report.md").read_text()
    assert "rare class 2 (`rare`)" in text.splitlines()[0] and "class `rare` metrics" in text


def test_a_top_up_with_nothing_to_add_is_refused_in_one_line(rare_folder, tmp_path):
    cfg = _cfg(rare_folder, tmp_path, "scenario=elastic", "data.top_up_to=10")
    with pytest.raises(UserError, match="would add nothing and equal scenario=original") as err:
        classify(cfg)
    assert "2 (`rare`): 11" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_rare_class_left_alone_is_named_in_a_warning(rare_folder, tmp_path):
    """Cutting `normal` (the first class in sorted order) leaves the truly rare `rare` alone."""
    cfg = _cfg(rare_folder, tmp_path, "data.minority_classes=[normal]", "data.minority_count=30")
    split = split_from_config(cfg.data)
    assert split.minority == (0,) and list(split.counts) == [30, 60, 12]
    warning = split.rare_class_warning()
    assert "2 (`rare`) with 12 training images" in warning
    assert warning.endswith("data.minority_classes=[rare]")


def test_names_the_data_lacks_and_the_whole_set_without_a_cut_are_refused(rare_folder, tmp_path):
    with pytest.raises(UserError, match="names 'shirt', which is no class .* normal, other, rare"):
        split_from_config(_cfg(rare_folder, tmp_path, "data.minority_classes=[shirt]").data)
    # nothing cut: `full` would be the data as it is, which is `original`
    with pytest.raises(UserError, match="it would be scenario=original"):
        check_classify_config(_cfg(rare_folder, tmp_path, "scenario=full"))
    # no class below rare_below and none named: say how to name or cut one
    with pytest.raises(UserError, match="name the rare class"):
        split_from_config(_cfg(rare_folder, tmp_path, "data.rare_below=0.1").data)


def test_a_named_class_on_mnist_is_cut_exactly_as_before():
    """The study's MNIST: naming the class by index keeps the 300-zero cut and its draw."""
    from imbalance_gan.data import ImbalancedData, build_split

    split = build_split(ImbalancedData(root=str(DATA), seed=0))
    assert split.minority == (0,) and split.counts[0] == 300 and split.rare_class_warning() is None
    assert split.train_idx[:3].tolist() == [0, 2, 3] and int(split.val_idx.sum()) == 162781415


def test_quick_trains_a_small_folder_as_many_steps_as_mnist(rare_folder, tmp_path):
    """The quick profile's floor of optimiser steps: 2 epochs of MNIST (191 steps each), as many
    epochs as it takes on 119 images; the run records the epochs it trained."""
    from imbalance_gan.classifier.pipeline import classifier_epochs

    quick = make_cfg("classify", ["experiment=quick"], tmp_path / "mnist").classifier
    assert classifier_epochs(quick, 48_697) == 2  # MNIST quick, 30 zeros: as before
    assert classifier_epochs(quick, 119) == quick.min_steps == 380  # one step an epoch
    cfg = _cfg(rare_folder, tmp_path, "classifier.min_steps=3", "trainer.limit_train_batches=1")
    assert classify(cfg)["epochs"] == 3  # 2 epochs would be 2 steps


def test_a_study_plan_only_prints_its_plan_and_runs_nothing(rare_folder, tmp_path):
    out = tmp_path / "study"
    proc = run_module(
        "imbalance_gan.study",
        "data=folder",
        f"data.path={rare_folder}",
        "experiment=smoke",
        "study.scenarios=[original,oversample,projgan]",
        "study.seeds=[0]",
        "study.plan_only=true",
        f"hydra.run.dir={out}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "plan: 3 runs (0 finished), 1 generator to train, " in proc.stdout + proc.stderr
    assert not (out / "runs").exists() and not (out / "study.json").exists()


def test_a_run_made_before_min_steps_is_kept_only_when_it_trained_those_epochs(tmp_path):
    """Runs recorded before classifier.min_steps existed (the committed studies) resume under
    the quick profile when the floor changes nothing for them: the same epochs."""
    from omegaconf import OmegaConf

    from imbalance_gan.record.rundir import check_run_dir

    out = tmp_path / "run"
    classify(make_cfg("classify", ["experiment=smoke"], out))
    saved = OmegaConf.load(out / "config.yaml")
    del saved.classifier["min_steps"]  # as a run's config.yaml held before the key
    OmegaConf.save(saved, out / "config.yaml")
    for steps, kept in ((380, True), (1000, False)):  # 2 epochs of 192 steps; 6 epochs
        cfg = make_cfg("classify", ["experiment=smoke", f"classifier.min_steps={steps}"], out)
        if kept:
            assert check_run_dir(out, cfg, finished=True, resume=True)
        else:
            with pytest.raises(UserError, match="classifier.min_steps is '<unset>' there"):
                check_run_dir(out, cfg, finished=True, resume=True)
