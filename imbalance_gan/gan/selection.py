"""Honest GAN model selection: a Frechet distance in a digit classifier's feature space.

Only data the imbalanced scenario has may drive the choice: the feature network is trained on
the imbalanced *training part* and the reference images are that part's minority images. The
test set enters only :meth:`Selector.evaluate`, after the choice is made.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from imbalance_gan.data import ImbalancedDataModule, TensorLoader
from imbalance_gan.gan.cache import build_once, config_hash, data_key
from imbalance_gan.gan.quality import (
    FeatureExtractor,
    extract_features,
    frechet_distance_features,
    precision_recall,
)
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.files import torch_save

#: the file of a finished feature-network cache entry
FEATURE_NET_MARKER = "net.pt"


def train_feature_net(
    cfg_sel: DictConfig, x: torch.Tensor, y: torch.Tensor, seed: int
) -> nn.Module:
    """A new ``selection.feature_net``, trained on ``(x, y)`` only; in eval mode."""
    torch.manual_seed(seed)
    net = instantiate(cfg_sel.feature_net)
    cfg_train = cfg_sel.feature_training
    opt = instantiate(cfg_train.optimizer)(net.parameters())
    loader = TensorLoader((x, y), int(cfg_train.batch_size), shuffle=True, seed=seed)
    net.train()
    max_batches = cfg_train.get("max_train_batches") or len(loader)
    for epoch in range(int(cfg_train.epochs)):
        loader.sampler.set_epoch(epoch)
        for _, (xb, yb) in zip(range(max_batches), loader, strict=False):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(xb), yb).backward()
            opt.step()
    return net.eval()


def feature_net_key(cfg_data: DictConfig, cfg_sel: DictConfig) -> str:
    """Cache key of a feature network: the data selection, its architecture and its training."""
    return config_hash(
        {
            "data": data_key(cfg_data),
            "net": OmegaConf.to_container(cfg_sel.feature_net, resolve=True),
            "training": OmegaConf.to_container(cfg_sel.feature_training, resolve=True),
        }
    )


def load_or_train_feature_net(
    dm: ImbalancedDataModule, cfg_data: DictConfig, cfg_sel: DictConfig, cache_dir: Path
) -> nn.Module:
    """The feature network for this data selection, trained once and kept in ``cache_dir``."""
    entry = Path(cache_dir).resolve() / "feature_nets" / feature_net_key(cfg_data, cfg_sel)

    def build(tmp: Path) -> None:
        # the random draws of the training do not disturb the caller's random state
        with torch.random.fork_rng():
            net = train_feature_net(cfg_sel, dm.train_x, dm.train_y, int(cfg_data.seed))
        torch_save(tmp / FEATURE_NET_MARKER, net.state_dict())

    build_once(entry, build, FEATURE_NET_MARKER)
    path = entry / FEATURE_NET_MARKER
    net = instantiate(cfg_sel.feature_net)
    try:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as err:
        raise UserError(
            f"the cached feature network {path} cannot be used ({type(err).__name__}); "
            f"delete {entry} to train it again"
        ) from None
    return net.eval()


class Selector:
    """Scores generated images against the training split's real minority images."""

    def __init__(self, feature_net: nn.Module, train_minority: torch.Tensor, k: int = 3) -> None:
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
