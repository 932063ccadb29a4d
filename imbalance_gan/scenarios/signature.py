"""The signature probe: can a small CNN tell the added minority images from the real ones?

If it can, whatever marks the added images as made (interpolation blur, generator texture, warp
artefacts) is perfectly correlated with the minority label in the training set, and the
classifier may learn that mark instead of the class. The probe trains a small CNN to separate
real minority images of the training split from the added ones, on half of each, and scores
the other halves: ROC AUC 0.5 means indistinguishable, 1.0 perfectly marked.

Added images are often made from real ones (copies, warps, interpolations). Split at random, a
copy on the scoring side would have its source on the training side, and the probe would score
it "real" by recognising the source: copies would get an AUC well below 0.5 and warps too low a
one. So each added image goes to the side of the real image nearest to it (pixel space), which
for a copy or a mild warp is its source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig
from sklearn.metrics import roc_auc_score
from torch import nn

#: keys of the probe's config (``conf/probe/``) that are no argument of :func:`signature_auc`:
#: ``warn_above``, the AUC above which the report warns of a shortcut (kept in the run record)
WARNING_KEYS = ("warn_above",)


def probe_net(in_channels: int, channels: Sequence[int] = (16, 32)) -> nn.Module:
    """The probe: two convolutions and the strongest response anywhere (a mark need not sit
    where the digit is), one logit."""
    c1, c2 = (int(c) for c in channels)
    return nn.Sequential(
        nn.Conv2d(in_channels, c1, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(c2, 1),
    )


def probe_arguments(cfg_probe: DictConfig) -> dict:
    """The keyword arguments of :func:`signature_auc` that the probe's config sets (its net
    built as ``net(in_channels)``), without :data:`WARNING_KEYS`."""
    arguments = instantiate(cfg_probe, _convert_="all")
    return {k: v for k, v in arguments.items() if k not in WARNING_KEYS}


def _split_with_sources(
    pool: torch.Tensor, real: torch.Tensor, n_train: int, n_test: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_train`` and ``n_test`` images of ``pool``: those nearest to ``real[:n_train]`` for
    training, those nearest to the rest of ``real`` for scoring, topped up from the other group
    where one is short (a generator that collapsed onto a few images)."""
    nearest = torch.cdist(pool.flatten(1), real.flatten(1)).argmin(1)
    first = (nearest < n_train).nonzero().view(-1)
    second = (nearest >= n_train).nonzero().view(-1)
    train = torch.cat([first, second])[:n_train]
    rest = torch.cat([second, first])
    test = rest[~torch.isin(rest, train)][:n_test]
    return pool[train], pool[test]


def signature_auc(
    real: torch.Tensor,
    added: torch.Tensor,
    seed: int = 0,
    *,
    net: Callable[[int], nn.Module] = probe_net,
    epochs: int = 15,
    batch_size: int = 64,
    lr: float = 2e-3,
    max_per_side: int = 1000,
    min_per_side: int = 8,
    pool: int = 4,
) -> float:
    """ROC AUC of a small CNN telling ``added`` images from ``real`` ones (both [N, C, H, W] in
    [-1, 1]) on held-out halves of each; NaN when either side has fewer than ``min_per_side``.

    Both sides are cut to the same size (at most ``max_per_side``), so the probe cannot win by
    predicting the larger side; ``pool`` added images are drawn per real one, to find enough
    near each half of the real images. ``net(in_channels)`` builds the probe. Runs on the CPU,
    with its own seeded random state. The defaults are ``conf/probe/signature.yaml``'s.
    """
    n = min(len(real), len(added), int(max_per_side))
    if n < int(min_per_side):
        return math.nan
    g = torch.Generator().manual_seed(int(seed))
    real = real.detach().float().cpu()[torch.randperm(len(real), generator=g)[:n]]
    pool = added.detach().float().cpu()[torch.randperm(len(added), generator=g)[: int(pool) * n]]
    half = n // 2
    train_added, test_added = _split_with_sources(pool, real, half, n - half)
    train_x = torch.cat([real[:half], train_added])
    train_y = torch.cat([torch.zeros(half), torch.ones(half)])
    test_x = torch.cat([real[half:], test_added])
    test_y = torch.cat([torch.zeros(n - half), torch.ones(n - half)])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = net(real.shape[1])
        opt = torch.optim.Adam(net.parameters(), lr=float(lr))
        for _ in range(int(epochs)):
            order = torch.randperm(len(train_x))
            for idx in order.split(int(batch_size)):
                loss = F.binary_cross_entropy_with_logits(net(train_x[idx]).view(-1), train_y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            scores = net(test_x).view(-1)
    return float(roc_auc_score(test_y.numpy(), scores.numpy()))
