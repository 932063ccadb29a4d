"""What each classic scenario adds: exact counts, and images that are what the scenario says."""

from __future__ import annotations

import pytest
import torch

from imbalance_gan.scenarios.augment import affine, inverse_frequency_weights, oversample, smote


def _data(n_minority: int = 20, n_other: int = 60, seed: int = 0):
    """Small random 'images' in [-1, 1]: class 0 rare, class 1 common (3 classes in all)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n_minority + n_other, 1, 28, 28, generator=g) * 2 - 1
    y = torch.tensor([0] * n_minority + [1] * n_other, dtype=torch.int64)
    return x, y


def test_oversampled_images_are_copies_of_real_minority_images():
    x, y = _data()
    aug = oversample(x, y, [0], 3, seed=0, target_count=50)
    assert aug.labels.tolist() == [0] * 30
    real = x[y == 0]
    # every added image equals one of the 20 real minority images, exactly
    assert all(any(torch.equal(img, r) for r in real) for img in aug.images)


def test_affine_copies_are_warped_versions_of_real_minority_images():
    x, y = _data()
    # a smooth blob, so that a small warp changes an image a little, not into noise
    grid = torch.linspace(-1, 1, 28)
    blob = torch.exp(-(grid.view(-1, 1) ** 2 + grid.view(1, -1) ** 2) * 4) * 2 - 1
    x[y == 0] = blob.expand(20, 1, 28, 28) * torch.linspace(0.5, 1, 20).view(-1, 1, 1, 1)
    aug = affine(x, y, [0], 3, seed=0, target_count=50)
    assert aug.labels.tolist() == [0] * 30 and aug.images.shape == (30, 1, 28, 28)
    assert aug.images.min() >= -1 and aug.images.max() <= 1
    real = x[y == 0].flatten(1)
    nearest = torch.cdist(aug.images.flatten(1), real).min(dim=1).values
    assert (nearest > 1e-3).all()  # none is an unwarped copy...
    far = torch.cdist(aug.images.flatten(1), x[y == 1].flatten(1)).min(dim=1).values
    assert (nearest < far).all()  # ...and each is closer to a real zero than to anything else


def test_smote_points_lie_between_two_real_minority_neighbours():
    x, y = _data(n_minority=12)
    aug = smote(x, y, [0], 3, seed=0, target_count=30, k_neighbors=3)
    assert aug.labels.tolist() == [0] * 18
    real = x[y == 0].flatten(1).double()
    for s in aug.images.flatten(1).double():
        # s = a + t (b - a) for some pair of real minority images a, b and t in [0, 1]
        best = min(
            (
                torch.linalg.vector_norm(s - (a + t.clamp(0, 1) * (b - a))).item(),
                t.item(),
            )
            for i, a in enumerate(real)
            for j, b in enumerate(real)
            if i != j
            for t in [torch.dot(s - a, b - a) / torch.dot(b - a, b - a)]
        )
        assert best[0] < 1e-4 and -1e-6 <= best[1] <= 1 + 1e-6


@pytest.mark.parametrize("scenario", [oversample, affine, smote])
def test_classes_already_at_the_target_get_nothing(scenario):
    x, y = _data()
    aug = scenario(x, y, [0], 3, seed=0, target_count=20)
    assert len(aug.images) == len(aug.labels) == 0


def test_class_weights_are_sklearns_balanced_formula():
    # N / (C * n_c): 100 images, 4 classes
    assert inverse_frequency_weights([10, 40, 50, 0]) == pytest.approx([2.5, 0.625, 0.5, 0.0])
    import numpy as np
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0] * 10 + [1] * 40 + [2] * 50)
    expected = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=y)
    assert inverse_frequency_weights([10, 40, 50]) == pytest.approx(expected.tolist())
