"""Fréchet distance and precision/recall in a classifier's feature space."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance

from imbalance_gan.generators.quality import (
    FeatureExtractor,
    copy_statistics,
    extract_features,
    frechet_distance_features,
    precision_recall,
)
from imbalance_gan.nets import CNN


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _gaussian(n: int = 2000, d: int = 8) -> Tensor:
    # Correlated, non-centred features, like real activations.
    return torch.randn(n, d, dtype=torch.float64) @ torch.randn(d, d, dtype=torch.float64) + 3


def test_frechet_distance_of_a_set_with_itself_is_zero() -> None:
    feats = _gaussian()
    scale = feats.var(dim=0).sum().item()
    assert abs(frechet_distance_features(feats, feats)) < 1e-3 * scale


def test_frechet_distance_grows_with_noise() -> None:
    feats = _gaussian()
    noise = torch.randn_like(feats)
    values = [frechet_distance_features(feats, feats + s * noise) for s in (0.1, 0.5, 1.0, 2.0)]
    assert all(a < b for a, b in pairwise(values)), values
    assert values[0] > 0


def test_frechet_distance_of_a_mean_shift_is_its_squared_norm() -> None:
    feats = _gaussian()
    shift = torch.full((feats.shape[1],), 0.5, dtype=torch.float64)
    assert frechet_distance_features(feats, feats + shift) == pytest.approx(8 * 0.25, rel=1e-6)


class _Features(nn.Module):
    """Hands precomputed features to torchmetrics' FID unchanged (float64, full precision)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features  # torchmetrics sizes its state from it

    def forward(self, x: Tensor) -> Tensor:
        return x.double()


def _torchmetrics_fd(real: Tensor, fake: Tensor, batch_size: int) -> float:
    metric = FrechetInceptionDistance(feature=_Features(real.shape[1]))
    for batch in real.split(batch_size):
        metric.update(batch, real=True)
    for batch in fake.split(batch_size):
        metric.update(batch, real=False)
    return float(metric.compute())


@pytest.mark.parametrize("noise", [0.0, 0.3, 2.0])
def test_plain_frechet_distance_matches_torchmetrics(noise: float) -> None:
    real = _gaussian()
    fake = _gaussian(1500) * 1.2 + noise * torch.randn(1500, 8, dtype=torch.float64)
    expected = _torchmetrics_fd(real, fake, batch_size=10_000)
    assert frechet_distance_features(real, fake) == pytest.approx(expected, rel=1e-6, abs=1e-8)
    assert _torchmetrics_fd(real, fake, batch_size=300) == pytest.approx(expected, rel=1e-6)


def _images(n: int, offset: float = 0.0) -> Tensor:
    return (torch.rand(n, 1, 28, 28) * 2 - 1 + offset).clamp(-1, 1)


def test_extract_features_restores_training_mode_and_batches() -> None:
    cnn = CNN(hidden=16).train()
    images = _images(25)
    feats = extract_features(FeatureExtractor(cnn), images, batch_size=7)
    assert feats.shape == (25, 16) and feats.dtype == torch.float64
    assert cnn.training and not feats.requires_grad
    # Batching changes float32 summation order only.
    assert torch.allclose(feats, cnn.eval().features(images).double(), atol=1e-6)


def test_precision_recall_of_identical_sets_is_one() -> None:
    feats = _gaussian(500)
    assert precision_recall(feats, feats.clone(), k=3, chunk_size=64) == (1.0, 1.0)


def test_precision_drops_when_fake_set_is_far_away() -> None:
    real = _gaussian(500)
    precision, recall = precision_recall(real, real + 1000.0)
    assert precision == 0.0 and recall == 0.0


def test_recall_drops_when_fake_covers_half_the_real_set() -> None:
    real = torch.randn(1000, 2, dtype=torch.float64)
    half = real[real[:, 0] > 0.5]  # mode dropping: fakes only from one side
    precision, recall = precision_recall(real, half)
    assert precision == 1.0
    assert recall < 0.5


def test_precision_recall_rejects_k_too_large() -> None:
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(torch.randn(3, 2), torch.randn(3, 2), k=3)


def test_copy_statistics_tell_copies_from_fresh_samples() -> None:
    train, held = _gaussian(300), _gaussian(300)
    fresh = _gaussian(1000)
    copies = train[torch.randint(0, 300, (1000,))] + 1e-6
    near_fresh, ratio_fresh = copy_statistics(fresh, train, held)
    near_copies, ratio_copies = copy_statistics(copies, train, held)
    # fresh samples from the same distribution fall below the 5% line about 5% of the time
    assert 0.01 < near_fresh / 1000 < 0.12 and 0.8 < ratio_fresh < 1.25
    assert near_copies == 1000 and ratio_copies < 1e-3
