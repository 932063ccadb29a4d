"""Added images must not teach a shortcut: the signature probe, and on-the-fly augmentation
that touches training batches only."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from imbalance_gan import record
from imbalance_gan.classifier.augment import RandomAffine, RandomElastic
from imbalance_gan.classifier.module import ClassifierModule
from imbalance_gan.scenarios.signature import probe_arguments, signature_auc

from .conftest import make_cfg


def test_probe_cannot_tell_real_from_real_but_sees_a_mark(mnist_split):
    train = mnist_split.minority_images("train")
    held_out = mnist_split.minority_images("test")
    # real held-out zeros as the "added" images: nothing to find
    assert 0.3 < signature_auc(train, held_out, seed=0) < 0.7
    marked = held_out.clone()
    marked[:, :, 0, 0] = 1.0  # one bright corner pixel, where real digits are always black
    assert signature_auc(train, marked, seed=0) > 0.9


def test_probe_is_not_fooled_by_copies_of_its_own_training_images(mnist_split):
    # oversample's added images are exact copies of the real ones; split at random the probe
    # learns the sources and calls their copies "real" (AUC about 0.39 here); kept with their
    # sources, copies are indistinguishable
    train = mnist_split.minority_images("train")
    copies = train[torch.randint(len(train), (2000,), generator=torch.Generator().manual_seed(1))]
    auc = sum(signature_auc(train, copies, seed=s) for s in (0, 1)) / 2
    assert 0.44 < auc < 0.56


def test_probe_needs_a_few_images_of_each_kind():
    x = torch.zeros(5, 1, 28, 28)
    assert torch.isnan(torch.tensor(signature_auc(x, x)))


def test_the_shortcut_threshold_is_recorded_for_the_report_and_is_no_probe_argument(tmp_path):
    cfg = make_cfg("classify", ["scenario=oversample", "probe.warn_above=0.7"], tmp_path)
    arguments = probe_arguments(cfg.probe)
    assert "warn_above" not in arguments and arguments["epochs"] == cfg.probe.epochs
    run = record.classify_record(
        cfg,
        best_epoch=1,
        train_counts={},
        val_counts=[],
        minority=[0],
        class_weights=None,
        gan_run=None,
        device="cpu",
        hardware="test box",
        wall_time_s=1.0,
        metrics={},
        val_metrics={},
        signature_auc=0.97,
    )
    assert run["signature_warn_above"] == 0.7  # the report warns above it


class _Recorder(nn.Module):
    """A stand-in network that remembers the images it was given."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(28 * 28, 10)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.lin(x.flatten(1))


@pytest.mark.parametrize("augment", [RandomAffine(), RandomElastic()])
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
    with pytest.raises(TypeError, match="augment must be callable"):
        ClassifierModule(net, lambda p: None, augment="affine")


def test_oversample_aug_is_oversampling_plus_batch_augmentation(tmp_path):
    cfg = make_cfg("classify", ["scenario=oversample_aug"], tmp_path)
    assert cfg.classifier.augment._target_.endswith("RandomAffine")
    assert cfg.scenario.family == "classic"
    assert cfg.scenario.augment._target_.endswith("augment.oversample")
    plain = make_cfg("classify", ["scenario=oversample"], tmp_path)
    assert plain.classifier.augment is None


def _stand_in_gan(cfg, dm, need, *seed):
    """Stand-in for the GAN: ``need[c]`` blank images of each class."""
    labels = torch.cat([torch.full((k,), c, dtype=torch.int64) for c, k in need.items()])
    images = torch.zeros(len(labels), *dm.image_shape, dtype=torch.uint8)
    return (images, labels, {"gan": "stand-in"}) if not seed else (images.float() - 1, labels)


@pytest.mark.parametrize("scenario", ["affine_agnostic", "projgan_affine_agnostic"])
def test_class_agnostic_variants_give_every_class_the_same_share(scenario, tmp_path, monkeypatch):
    import imbalance_gan.scenarios as scenarios
    from imbalance_gan.data import TrainingSet, split_from_config
    from imbalance_gan.scenarios import build_training_data

    monkeypatch.setattr(scenarios, "synthetic_for_scenario", _stand_in_gan)
    monkeypatch.setattr(scenarios, "generate_for_classes", _stand_in_gan)
    cfg = make_cfg("classify", [f"scenario={scenario}"], tmp_path)
    dm = split_from_config(cfg.data)
    before = TrainingSet.real(dm).counts()["total"]
    counts = build_training_data(cfg, dm).training.counts()
    assert counts["total"][0] == 6000  # the minority is still topped up
    assert counts["total"][1:] == before[1:]  # the others keep their counts...
    share = [a / t for a, t in zip(counts["added"], counts["total"], strict=True)]
    assert share[0] == pytest.approx(5730 / 6000)
    # ...with the minority's share of made images (to rounding)
    assert all(abs(s - share[0]) < 1e-3 for s in share[1:]), share


def test_a_minority_only_generator_has_no_class_agnostic_variant(tmp_path):
    from imbalance_gan.classifier.rules import check_class_agnostic
    from imbalance_gan.runtime.errors import UserError

    cfg = make_cfg("classify", ["scenario=dcgan", "scenario.class_agnostic=true"], tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        check_class_agnostic(cfg)
    check_class_agnostic(make_cfg("classify", ["scenario=projgan_agnostic"], tmp_path))
