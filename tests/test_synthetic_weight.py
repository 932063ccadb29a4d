"""The loss weight of generated images (issue 27, DiffuLT's idea): it scales exactly their terms
of the loss, reaches the batches only for images a generator made, and bad values are refused
before any work."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from imbalance_gan.classifier.losses import CrossEntropy
from imbalance_gan.classifier.module import ClassifierModule
from imbalance_gan.classifier.pipeline import classify
from imbalance_gan.classifier.rules import check_synthetic_weight
from imbalance_gan.nets.cnn import CNN
from imbalance_gan.runtime.errors import UserError

from .conftest import make_cfg


def test_the_synthetic_weight_scales_exactly_the_generated_images_terms():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(12, 10, generator=g), torch.randint(0, 10, (12,), generator=g)
    weight = torch.tensor([1.0] * 8 + [0.25] * 4)  # the last four were generated
    module = ClassifierModule(CNN(), optimizer=torch.optim.Adam, loss=CrossEntropy())
    terms = F.cross_entropy(logits, y, reduction="none")
    expected = (terms[:8].sum() + 0.25 * terms[8:].sum()) / 12
    assert torch.allclose(module.weighted_loss(logits, y, weight, 0.0), expected, atol=1e-6)
    ones = torch.ones(12)
    assert torch.allclose(module.weighted_loss(logits, y, ones, 0.0), F.cross_entropy(logits, y))


def test_only_generated_images_carry_the_weight_into_the_batches(mnist_split):
    from imbalance_gan.data import BatchPolicy, ModelData, TrainingSet

    real = TrainingSet.real(mnist_split)
    n_real = len(real.labels)
    made = mnist_split.minority_images("train")[:20]
    training = real.adding(made, torch.zeros(20, dtype=torch.long), generated=True)
    training = training.adding(made[:7], torch.zeros(7, dtype=torch.long))  # warped copies, say
    weighted = ModelData(mnist_split, training.weighted(0.5), BatchPolicy(64))
    weights = torch.cat([w for _, _, w in weighted.train_dataloader()])
    assert len(weights) == n_real + 27
    assert int((weights == 0.5).sum()) == 20 and int((weights == 1.0).sum()) == n_real + 7
    plain = ModelData(mnist_split, training, BatchPolicy(64))
    assert all(len(batch) == 2 for batch in plain.train_dataloader())  # unweighted: as before


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["scenario=elastic", "scenario.synthetic_weight=0.5"], "adds none"),
        (["scenario=projgan", "scenario.synthetic_weight=0"], "positive number"),
        (["scenario=projgan", "scenario.synthetic_weight=-1"], "positive number"),
        (
            ["scenario=projgan", "scenario.synthetic_weight=0.5", "classifier/augment=mixup"],
            "mixup blends",
        ),
    ],
)
def test_a_synthetic_weight_the_scenario_cannot_use_is_refused(overrides, message, tmp_path):
    cfg = make_cfg("classify", ["experiment=smoke", *overrides], tmp_path / "run")
    with pytest.raises(UserError, match=message):
        check_synthetic_weight(cfg)
    with pytest.raises(UserError, match=message):  # and the command stops before any work
        classify(cfg)
    assert not list((tmp_path / "run").glob("*"))  # nothing written
