"""Added images must not teach a shortcut: the signature probe, and on-the-fly augmentation
that touches training batches only."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from imbalance_gan.classifier.module import ClassifierModule
from imbalance_gan.scenarios.signature import signature_auc

from .conftest import make_cfg


def test_probe_cannot_tell_real_from_real_but_sees_a_mark(mnist_dm):
    train = mnist_dm.minority_images("train")
    held_out = mnist_dm.minority_images("test")
    # real held-out zeros as the "added" images: nothing to find
    assert 0.3 < signature_auc(train, held_out, seed=0) < 0.7
    marked = held_out.clone()
    marked[:, :, 0, 0] = 1.0  # one bright corner pixel, where real digits are always black
    assert signature_auc(train, marked, seed=0) > 0.9


def test_probe_needs_a_few_images_of_each_kind():
    x = torch.zeros(5, 1, 28, 28)
    assert torch.isnan(torch.tensor(signature_auc(x, x)))


class _Recorder(nn.Module):
    """A stand-in network that remembers the images it was given."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(28 * 28, 10)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.lin(x.flatten(1))


@pytest.mark.parametrize("augment", ["affine", "elastic"])
def test_batch_augmentation_changes_training_batches_only(augment):
    torch.manual_seed(0)
    net = _Recorder()
    model = ClassifierModule(net, lambda p: torch.optim.SGD(p, lr=0.1), augment=augment)
    grid = torch.linspace(-1, 1, 28)
    x = (torch.exp(-(grid.view(-1, 1) ** 2 + grid.view(1, -1) ** 2) * 4) * 2 - 1).expand(
        8, 1, 28, 28
    )
    y = torch.zeros(8, dtype=torch.int64)
    model.training_step((x, y), 0)
    assert net.seen[-1].shape == x.shape and not torch.allclose(net.seen[-1], x)
    assert net.seen[-1].min() >= -1 and net.seen[-1].max() <= 1
    model.on_validation_epoch_start()
    model.validation_step((x, y), 0)
    assert torch.equal(net.seen[-1], x)  # validation sees the images as they are
    model.on_test_epoch_start()
    model.test_step((x, y), 0)
    assert torch.equal(net.seen[-1], x)  # and so does the test
    with pytest.raises(ValueError, match="unknown augment"):
        ClassifierModule(net, lambda p: None, augment="mixup")


def test_oversample_aug_is_oversampling_plus_batch_augmentation(tmp_path):
    cfg = make_cfg("classify", ["scenario=oversample_aug"], tmp_path)
    assert cfg.classifier.augment == "affine" and cfg.scenario.family == "classic"
    assert cfg.scenario.augment._target_.endswith("augment.oversample")
    plain = make_cfg("classify", ["scenario=oversample"], tmp_path)
    assert plain.classifier.augment is None
