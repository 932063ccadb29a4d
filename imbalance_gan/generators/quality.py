"""Generator quality measured in the feature space of a digit classifier.

Inception-v3 features (the study's FID) are made for ImageNet photos, not 28x28 digits, so the
distances here use the hidden layer of our own MNIST CNN instead. The Fréchet distance is
computed in float64 from the features directly (tests check it against torchmetrics' FID);
precision and recall are the improved k-NN ones of Kynkäänniemi et al. (2019).
"""

from __future__ import annotations

import math

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from imbalance_gan.record import FEATURE_VAL_RECALL, N_HELD_OUT


class FeatureExtractor(nn.Module):
    """Wrap a classifier with a ``features(x)`` method: image [N, C, H, W] -> float64 [N, D]."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        """Features of images in [-1, 1], in float64."""
        return self.classifier.features(x).double()


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


@torch.no_grad()
def nearest_distances(queries: Tensor, support: Tensor, chunk_size: int = 1000) -> Tensor:
    """Distance from each query row to its nearest support row: [N]."""
    return torch.cat(
        [torch.cdist(chunk, support).min(dim=1).values for chunk in queries.split(chunk_size)]
    )


@torch.no_grad()
def copy_statistics(
    fake: Tensor, train: Tensor, held_out: Tensor, quantile: float = 0.05
) -> tuple[float, float]:
    """How close generated samples sit to the training set, against fresh real samples.

    Features [N, D] of generated, training and held-out real images of one class. A generated
    sample is a *near-copy* when its distance to the nearest training sample is below the
    ``quantile`` of the held-out real samples' nearest-training distances. Returns the number
    of near-copies and the median of the generated samples' nearest-training distances divided
    by that of the held-out ones (1: as novel as fresh real data; near 0: copies). A generator
    that behaves like fresh real data has about ``quantile`` of its samples below the line.
    """
    d_fake = nearest_distances(fake.double(), train.double())
    d_held = nearest_distances(held_out.double(), train.double())
    line = torch.quantile(d_held, quantile)
    ratio = (d_fake.median() / d_held.median().clamp_min(1e-12)).item()
    return float((d_fake < line).sum().item()), ratio


def quality_floor_misses(evaluation: dict[str, float], cfg_sel: DictConfig) -> list[str]:
    """Why the chosen generator is below the quality floor (empty: it is not).

    The class-share floor is relative to held-out real images of the class
    (``eval/real_minority_share``, when recorded): a generator is held to
    ``minority_share_floor`` times what real images reach, since the feature network, trained on
    the imbalanced split, does not recognise every real minority image either.
    """
    misses = []
    if evaluation["eval/recall"] < float(cfg_sel.recall_floor):
        misses.append(
            f"recall {evaluation['eval/recall']:.3f} < selection.recall_floor={cfg_sel.recall_floor}"
            " (the samples cover little of the real class: mode collapse)"
        )
    share, floor = evaluation["eval/minority_share"], float(cfg_sel.minority_share_floor)
    real = evaluation.get("eval/real_minority_share")
    if share < (floor if real is None else floor * real):
        against, of_that = (
            ("", "")
            if real is None
            else (f", against {real:.3f} of held-out real images", " of that")
        )
        misses.append(
            f"only {share:.3f} of the samples look like their class to the feature network"
            f"{against} (< selection.minority_share_floor={floor}{of_that})"
        )
    return misses


def cannot_judge_reasons(measured: dict, cfg_sel: DictConfig) -> list[str] | None:
    """Why the quality numbers cannot judge the chosen generator (empty: they can; None: the
    record measured neither, as records before version 2 did).

    Every distance, share and recall of the floor is measured in the feature network's space
    and against held-out real images. A network that does not recognise the rare class on the
    validation split (``selection/feature_val_recall`` below ``selection.feature_recall_floor``)
    tells no real image of the class from a wrong one, so ``eval/real_minority_share`` is near 0
    and the class-share floor passes whatever the generator makes; too few held-out images of
    a rare class (``eval/n_held_out`` below ``selection.min_held_out``) leave the recall and the
    distances to chance. Such a generator is neither passed nor failed, only flagged.
    """
    if FEATURE_VAL_RECALL not in measured and N_HELD_OUT not in measured:
        return None
    reasons = []
    recall, floor = measured.get(FEATURE_VAL_RECALL), float(cfg_sel.feature_recall_floor)
    if recall is None or (isinstance(recall, float) and math.isnan(recall)):
        reasons.append(
            "no validation image of a rare class to measure the feature network on "
            "(its space may not tell the class apart)"
        )
    elif recall < floor:
        reasons.append(
            f"the feature network recognises {recall:.3f} of the validation images of a rare "
            f"class (< selection.feature_recall_floor={floor}): its distances and class shares "
            "do not tell the class apart"
        )
    held, least = measured.get(N_HELD_OUT), int(cfg_sel.min_held_out)
    if held is not None and held < least:
        reasons.append(
            f"only {int(held)} held-out images of a rare class to measure quality on "
            f"(< selection.min_held_out={least})"
        )
    return reasons
