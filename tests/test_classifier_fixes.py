"""The classifier's fixes that are not data (loss, batch sampler, batch augmentation, logit
adjustment) are built from config; the defaults do what the classifier did before."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import nn

from imbalance_gan.classifier.adjust import Identity, LogitAdjustment
from imbalance_gan.classifier.losses import CrossEntropy, Loss
from imbalance_gan.classifier.module import ClassifierModule
from imbalance_gan.classifier.rules import check_fixes
from imbalance_gan.classifier.sampling import Shuffle
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.scenarios import inverse_frequency_weights
from imbalance_gan.scenarios.augment import random_affine, random_elastic

from .conftest import CONF, bare_trainer, make_cfg

COUNTS = [6000, 300, 1000]


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 4.0]])
    return logits, torch.tensor([0, 1, 1, 2])


@pytest.mark.parametrize("weighted", [False, True])
def test_config_built_loss_is_the_cross_entropy_of_before(weighted, tmp_path):
    cfg = make_cfg("classify", ["scenario=weighted" if weighted else "scenario=original"], tmp_path)
    assert bool(cfg.scenario.class_weighting) == weighted
    weights = inverse_frequency_weights(COUNTS) if weighted else None
    loss = instantiate(cfg.classifier.loss, class_counts=COUNTS, class_weights=weights)
    assert isinstance(loss, CrossEntropy) and loss.class_counts == COUNTS
    logits, target = _batch()
    w = torch.tensor(weights, dtype=torch.float32) if weighted else None
    assert torch.equal(loss(logits, target, 0.5), F.cross_entropy(logits, target, weight=w))
    # the weights follow the module to its device (and are not saved in checkpoints)
    model = ClassifierModule(nn.Linear(3, 3), lambda p: None, loss=loss)
    assert "loss.class_weights" not in model.state_dict()


@pytest.mark.parametrize(("name", "warp"), [("affine", random_affine), ("elastic", random_elastic)])
def test_config_built_batch_warps_are_the_warps_at_their_defaults(name, warp, tmp_path):
    cfg = make_cfg("classify", [f"classifier/augment={name}"], tmp_path)
    augment = instantiate(cfg.classifier.augment)
    x, y = torch.rand(6, 1, 28, 28) * 2 - 1, torch.arange(6)
    torch.manual_seed(1)
    got_x, got_y = augment(x, y)
    torch.manual_seed(1)
    assert torch.equal(got_x, warp(x)) and torch.equal(got_y, y)


def test_scenario_and_command_line_choose_the_batch_augmentation(tmp_path):
    assert make_cfg("classify", [], tmp_path).classifier.augment is None
    cfg = make_cfg("classify", ["scenario=oversample_aug", "classifier/augment=elastic"], tmp_path)
    assert cfg.classifier.augment._target_.endswith("RandomElastic")
    cfg = make_cfg("classify", ["scenario=oversample_aug", "classifier.augment=null"], tmp_path)
    assert cfg.classifier.augment is None
    check_fixes(cfg)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("classifier.augment=affine", "write classifier/augment=<name> ({augment})"),
        ("classifier.loss=focal", "write classifier/loss=<name> ({loss})"),
        ("classifier.sampler=null", "classifier.sampler=None is not a config with a _target_"),
    ],
)
def test_a_fix_that_is_not_a_config_is_refused_in_one_line(override, message, tmp_path):
    """The line names every option of the group (its files in conf/classifier/<group>/)."""
    options = {
        group: ", ".join(sorted(p.stem for p in (CONF / "classifier" / group).glob("*.yaml")))
        for group in ("augment", "loss")
    }
    cfg = make_cfg("classify", [override], tmp_path)
    with pytest.raises(UserError, match="is not a config with a _target_") as err:
        check_fixes(cfg)
    assert message.format(**options) in str(err.value) and "\n" not in str(err.value)
    assert "cross_entropy" in options["loss"] and "affine" in options["augment"]


def test_default_sampler_gives_the_loader_its_order_of_before(mnist_split):
    from imbalance_gan.data import BatchPolicy, ModelData, TrainingSet

    training = TrainingSet.real(mnist_split)
    plain = ModelData(mnist_split, training, BatchPolicy(512))
    before = [y for _, y in plain.train_dataloader()]
    shuffled = ModelData(mnist_split, training, BatchPolicy(512, sampler=Shuffle()))
    after = [y for _, y in shuffled.train_dataloader()]
    assert len(before) == len(after) and all(map(torch.equal, before, after))


class _Bias(LogitAdjustment):
    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits + torch.tensor([0.0, 0.0, 100.0])


class _Recording(Loss):
    def __init__(self) -> None:
        super().__init__()
        self.progress: list[float] = []

    def forward(self, logits, target, progress=0.0):
        self.progress.append(progress)
        return F.cross_entropy(logits, target)


def _data(n: int = 8):
    from imbalance_gan.data.loader import TensorLoader

    g = torch.Generator().manual_seed(0)
    return TensorLoader((torch.randn(n, 3, generator=g), torch.arange(n) % 3), batch_size=4)


def test_logit_adjustment_changes_validation_only_and_the_loss_sees_the_budget(tmp_path):
    torch.manual_seed(0)
    loss = _Recording()
    model = ClassifierModule(
        nn.Linear(3, 3), lambda p: torch.optim.SGD(p, lr=0.1), loss=loss, logit_adjustment=_Bias()
    )
    bare_trainer(tmp_path, 2).fit(model, train_dataloaders=_data(), val_dataloaders=_data())
    assert loss.progress == [0.0, 0.25, 0.5, 0.75]  # 2 epochs of 2 batches
    assert model.val_metrics["val/recall"][2] == 1.0 and model.val_metrics["val/recall"][0] == 0
    plain = ClassifierModule(nn.Linear(3, 3), lambda p: None)
    assert isinstance(plain.logit_adjustment, Identity) and isinstance(plain.loss, CrossEntropy)
    logits = torch.randn(4, 3)
    assert plain.logit_adjustment(logits) is logits
