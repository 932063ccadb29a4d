"""Honest GAN model selection: a Frechet distance in a digit classifier's feature space.

Only data the imbalanced scenario has may drive the choice: the feature network is trained on
the imbalanced *training part* and the reference images are that part's minority images. The
test set enters only :meth:`Selector.evaluate`, after the choice is made.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from imbalance_gan.cache import DATA_KEYS
from imbalance_gan.data.loader import TensorLoader
from imbalance_gan.files import torch_save
from imbalance_gan.gan_metrics import (
    FeatureExtractor,
    extract_features,
    frechet_distance_features,
    precision_recall,
)
from imbalance_gan.nets.cnn import CNN


def train_feature_net(
    x: torch.Tensor, y: torch.Tensor, num_classes: int, cfg: DictConfig, seed: int
) -> CNN:
    """A small CNN with a ``cfg.feature_dim``-d hidden layer, trained on ``(x, y)`` only."""
    torch.manual_seed(seed)
    net = CNN(
        num_classes=num_classes,
        in_channels=x.shape[1],
        channels=(16, 32, 64),
        hidden=int(cfg.feature_dim),
        dropout=0.25,
    )
    opt = torch.optim.Adam(net.parameters(), lr=float(cfg.lr))
    loader = TensorLoader((x, y), int(cfg.batch_size), shuffle=True, seed=seed)
    net.train()
    max_batches = cfg.get("max_train_batches") or len(loader)
    for epoch in range(int(cfg.epochs)):
        loader.sampler.set_epoch(epoch)
        for _, (xb, yb) in zip(range(max_batches), loader, strict=False):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(xb), yb).backward()
            opt.step()
    return net.eval()


def feature_net_key(cfg_data: DictConfig, cfg_sel: DictConfig) -> str:
    """Cache key of a feature network: the data selection and the feature-net settings."""
    keep = {k: cfg_data[k] for k in DATA_KEYS}
    keep.update(
        {
            k: cfg_sel.get(k)
            for k in ("feature_dim", "epochs", "batch_size", "lr", "max_train_batches")
        }
    )
    blob = json.dumps({k: _plain(v) for k, v in keep.items()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _plain(v: object) -> object:
    return list(v) if hasattr(v, "__iter__") and not isinstance(v, str) else v


def load_or_train_feature_net(
    dm, cfg_data: DictConfig, cfg_sel: DictConfig, cache_dir: Path
) -> CNN:
    """The feature network for this data selection, trained once and kept in ``cache_dir``."""
    path = Path(cache_dir) / "feature_nets" / f"{feature_net_key(cfg_data, cfg_sel)}.pt"
    net = CNN(
        num_classes=dm.num_classes,
        in_channels=dm.image_shape[0],
        channels=(16, 32, 64),
        hidden=int(cfg_sel.feature_dim),
        dropout=0.25,
    )
    if path.exists():
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return net.eval()
        except Exception:  # a foreign or damaged file: retrain and replace it
            pass
    with torch.random.fork_rng():
        net = train_feature_net(dm.train_x, dm.train_y, dm.num_classes, cfg_sel, int(cfg_data.seed))
    torch_save(path, net.state_dict())
    return net


class Selector:
    """Scores generated images against the training split's real minority images."""

    def __init__(self, feature_net: CNN, train_minority: torch.Tensor, k: int = 3) -> None:
        self.extractor = FeatureExtractor(feature_net)
        self.k = int(k)
        self.real_train = extract_features(self.extractor, train_minority)

    def to(self, device: torch.device) -> Selector:
        self.extractor.to(device)
        self.real_train = self.real_train.to(device)
        return self

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return extract_features(self.extractor, images)

    def score(self, fake: torch.Tensor) -> float:
        """The selection score: Frechet distance to the training minority images (lower is better)."""
        return frechet_distance_features(self.real_train, self.features(fake))

    def evaluate(self, fake: torch.Tensor, test_minority: torch.Tensor) -> dict[str, float]:
        """Reported, never used for choice: distance to the test minority and precision/recall."""
        fake_f = self.features(fake)
        test_f = self.features(test_minority)
        precision, recall = precision_recall(test_f, fake_f, k=self.k)
        return {
            "eval/fd_test": frechet_distance_features(test_f, fake_f),
            "eval/precision": precision,
            "eval/recall": recall,
        }
