"""Generator quality measured in the feature space of a digit classifier.

Inception-v3 features (the study's FID) are made for ImageNet photos, not 28x28 digits, so the
distances here use the hidden layer of our own MNIST CNN instead.

torchmetrics quirk (v1.9, ``FrechetInceptionDistance``): with a custom ``feature`` module,
``update`` feeds images to the module *unchanged*; ``normalize`` only scales images when the
built-in Inception is used, and otherwise only picks the dtype of a dummy probe that runs when
the module lacks ``num_features``. So images keep their [-1, 1] range. ``compute`` accumulates
in float64 but casts the result back to the dtype the module returned, so the extractor
returns float64 to keep the full precision.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance


class FeatureExtractor(nn.Module):
    """Wrap a classifier with a ``features(x)`` method: image [N, C, H, W] -> float64 [N, D]."""

    def __init__(self, classifier: nn.Module, num_features: int | None = None):
        super().__init__()
        self.classifier = classifier
        # torchmetrics reads num_features to size its state; without it, it would run a
        # dummy 3x299x299 image through the net, which a 1x28x28 CNN cannot take.
        self.num_features = int(num_features or classifier.num_features)

    def forward(self, x: Tensor) -> Tensor:
        """Features of images in [-1, 1], in float64."""
        return self.classifier.features(x).double()


class _Identity(nn.Module):
    """Pass features through, so torchmetrics' FID can run on precomputed features."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x.double()


def _device_of(module: nn.Module) -> torch.device:
    """Device of the module's first parameter (CPU for a module without parameters)."""
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@torch.no_grad()
def extract_features(extractor: nn.Module, images: Tensor, batch_size: int = 1000) -> Tensor:
    """Features [N, D] of images [N, C, H, W], in eval mode, on the extractor's device."""
    was_training = extractor.training
    extractor.eval()
    device = _device_of(extractor)
    try:
        chunks = [extractor(b.to(device)) for b in images.split(batch_size)]
    finally:
        # Restore the caller's mode: this is called from inside training loops.
        extractor.train(was_training)
    return torch.cat(chunks)


def _fid_torchmetrics(
    feature: nn.Module, real: Tensor, fake: Tensor, batch_size: int, device: torch.device
) -> float:
    """Run torchmetrics' FID with ``feature`` over ``real`` and ``fake`` in batches."""
    # normalize=True has no effect on updates with a custom module (see module docstring).
    metric = FrechetInceptionDistance(feature=feature, normalize=True).to(device)
    for batch in real.split(batch_size):
        metric.update(batch.to(device), real=True)
    for batch in fake.split(batch_size):
        metric.update(batch.to(device), real=False)
    return float(metric.compute())


@torch.no_grad()
def frechet_distance_images(
    extractor: FeatureExtractor, real_images: Tensor, fake_images: Tensor, batch_size: int = 500
) -> float:
    """FID between image sets [N, C, H, W] in [-1, 1], via torchmetrics on the extractor."""
    was_training = extractor.training
    extractor.eval()
    try:
        return _fid_torchmetrics(
            extractor, real_images, fake_images, batch_size, _device_of(extractor)
        )
    finally:
        extractor.train(was_training)


@torch.no_grad()
def frechet_distance(real_feats: Tensor, fake_feats: Tensor, batch_size: int = 10_000) -> float:
    """Fréchet distance between feature sets [N, D] and [M, D], via torchmetrics."""
    feature = _Identity(real_feats.shape[1])
    return _fid_torchmetrics(feature, real_feats, fake_feats, batch_size, real_feats.device)


def _mean_cov(feats: Tensor) -> tuple[Tensor, Tensor]:
    """Mean [D] and unbiased covariance [D, D] of float64 features [N, D]."""
    mean = feats.mean(dim=0)
    centred = feats - mean
    return mean, centred.T @ centred / (feats.shape[0] - 1)


def _sqrtm_psd(mat: Tensor) -> Tensor:
    """Symmetric square root of a PSD matrix via its eigendecomposition."""
    vals, vecs = torch.linalg.eigh(mat)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


@torch.no_grad()
def frechet_distance_features(real_feats: Tensor, fake_feats: Tensor) -> float:
    """Fréchet distance between feature sets [N, D] and [M, D], plain torch in float64."""
    if real_feats.shape[0] < 2 or fake_feats.shape[0] < 2:
        raise ValueError("Fréchet distance needs at least 2 samples in each set")
    mu1, s1 = _mean_cov(real_feats.double())
    mu2, s2 = _mean_cov(fake_feats.double())
    # tr sqrt(s1 s2) = tr sqrt(r s2 r) with r = sqrt(s1); the latter is symmetric PSD, so
    # eigvalsh is exact and avoids the complex eigenvalues a non-symmetric product can show.
    root = _sqrtm_psd(s1)
    cross = torch.linalg.eigvalsh(root @ s2 @ root).clamp(min=0).sqrt().sum()
    return float((mu1 - mu2).square().sum() + s1.trace() + s2.trace() - 2 * cross)


def _knn_radii(feats: Tensor, k: int, chunk_size: int) -> Tensor:
    """Distance from each row to its k-th nearest other row: [N]."""
    if not 0 < k < feats.shape[0]:
        raise ValueError(f"k must be in [1, {feats.shape[0] - 1}], got {k}")
    # k + 1 smallest because every point is its own nearest neighbour at distance 0.
    return torch.cat(
        [
            torch.cdist(chunk, feats).topk(k + 1, dim=1, largest=False).values[:, -1]
            for chunk in feats.split(chunk_size)
        ]
    )


def _coverage(queries: Tensor, support: Tensor, radii: Tensor, chunk_size: int) -> float:
    """Fraction of queries inside at least one support ball (centre support[i], radius radii[i])."""
    inside = [
        (torch.cdist(chunk, support) <= radii.unsqueeze(0)).any(dim=1)
        for chunk in queries.split(chunk_size)
    ]
    return torch.cat(inside).double().mean().item()


@torch.no_grad()
def precision_recall(
    real_feats: Tensor, fake_feats: Tensor, k: int = 3, chunk_size: int = 1000
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of fake vs real features [N, D].

    Precision: share of fake samples inside the real manifold (union of k-NN balls around real
    samples). Recall: share of real samples inside the fake manifold.
    """
    real, fake = real_feats.double(), fake_feats.double()
    real_radii = _knn_radii(real, k, chunk_size)
    fake_radii = _knn_radii(fake, k, chunk_size)
    precision = _coverage(fake, real, real_radii, chunk_size)
    recall = _coverage(real, fake, fake_radii, chunk_size)
    return precision, recall
