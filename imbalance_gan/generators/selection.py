"""Honest generator selection: a Frechet distance in a digit classifier's feature space.

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

from imbalance_gan.data import Split, TensorLoader
from imbalance_gan.generators.cache import build_once, config_hash, net_key
from imbalance_gan.generators.lock import EntryLock
from imbalance_gan.generators.quality import (
    FeatureExtractor,
    copy_statistics,
    extract_features,
    frechet_distance_features,
    precision_recall,
)
from imbalance_gan.record import FEATURE_VAL_RECALL, N_HELD_OUT, REAL_HALVES
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.files import torch_save
from imbalance_gan.runtime.seeds import stream_seed

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


def feature_net_key(split: Split, cfg_sel: DictConfig) -> str:
    """Cache key of a feature network: the data's identity, its architecture and its training."""
    return config_hash(
        {
            "data": split.identity(),
            "net": net_key(OmegaConf.to_container(cfg_sel.feature_net, resolve=True)),
            "training": OmegaConf.to_container(cfg_sel.feature_training, resolve=True),
        }
    )


def load_or_train_feature_net(
    split: Split, cfg_sel: DictConfig, cache_dir: Path, lock: dict | None = None
) -> nn.Module:
    """The feature network for ``split``'s images, trained once and kept in ``cache_dir``;
    ``lock``: the build claim's settings (``paths.cache``)."""
    entry = Path(cache_dir).resolve() / "feature_nets" / feature_net_key(split, cfg_sel)

    def build(tmp: Path) -> None:
        # the random draws of the training do not disturb the caller's random state
        with torch.random.fork_rng():
            net = train_feature_net(cfg_sel, split.train_x, split.train_y, split.seed)
        torch_save(tmp / FEATURE_NET_MARKER, net.state_dict())

    build_once(entry, build, FEATURE_NET_MARKER, lock=EntryLock(entry, **(lock or {})))
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
    """Scores generated images against the training split's real minority images; after the
    choice, reports quality against held-out real ones.

    ``feature_net`` is a classifier with ``features(x)`` (trained on the imbalanced training
    split only); its features are the space of every distance here, its predictions say which
    class a generated image looks like.
    """

    def __init__(
        self,
        feature_net: nn.Module,
        train_minority: torch.Tensor,
        train_labels: torch.Tensor,
        k: int = 3,
    ) -> None:
        self.extractor = FeatureExtractor(feature_net)
        self.k = int(k)
        self.real_train = extract_features(self.extractor, train_minority)
        self.train_labels = train_labels.cpu()

    def to(self, device: torch.device) -> Selector:
        self.extractor.to(device)
        self.real_train = self.real_train.to(device)
        return self

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return extract_features(self.extractor, images)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """The feature network's class for each image: int64 [N] (on the CPU)."""
        return self.probabilities(images).argmax(dim=1)

    def class_share(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """Share of ``images`` the feature network puts in their class (``labels``, on the CPU)."""
        return (self.predict(images) == labels).double().mean().item()

    def class_recalls(self, images: torch.Tensor, labels: torch.Tensor) -> dict[int, float]:
        """Per class of ``labels`` (on the CPU), the share of its ``images`` the feature network
        puts in it: its recall on those images."""
        hits = self.predict(images) == labels
        return {c: hits[labels == c].double().mean().item() for c in sorted(set(labels.tolist()))}

    def real_halves_distance(self, seed: int) -> float | None:
        """The selection score's scale: the Fréchet distance between two random halves of the
        training minority images (real vs real, each half N // 2 images; None under 4 images).
        Drawn from its own ``seed``, not the global random stream. A generator's score is
        measured with more images on each side, so it is biased less: a score near this one is
        as close to the class as a second draw of real images is."""
        n = len(self.real_train) // 2
        if n < 2:
            return None
        order = torch.randperm(len(self.real_train), generator=torch.Generator().manual_seed(seed))
        order = order.to(self.real_train.device)
        return frechet_distance_features(
            self.real_train[order[:n]], self.real_train[order[n : 2 * n]]
        )

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """The feature network's class probabilities for each image: [N, classes] (on the CPU)."""
        return extract_features(self.extractor.classifier, images).softmax(dim=1).cpu()

    def copy_lines(self, quantile: float) -> dict[int, float]:
        """Per minority class, the distance below which an image counts as a near-copy of a
        training image: the ``quantile`` of the training images' distances to their nearest
        *other* training image of the class (training data only, like the selection score)."""
        lines = {}
        for c in sorted(set(self.train_labels.tolist())):
            feats = self.real_train[self.train_labels.to(self.real_train.device) == c]
            dist = torch.cdist(feats, feats)
            dist.fill_diagonal_(float("inf"))
            lines[c] = float(torch.quantile(dist.min(dim=1).values, quantile))
        return lines

    def score(self, fake: torch.Tensor) -> float:
        """The selection score: Frechet distance to the training minority images (lower is better)."""
        return frechet_distance_features(self.real_train, self.features(fake))

    def evaluate(
        self,
        fake: torch.Tensor,
        fake_labels: torch.Tensor,
        held_out: torch.Tensor,
        held_out_labels: torch.Tensor,
        seed: int = 0,
    ) -> dict[str, float]:
        """Reported, never used for choice: quality of ``fake`` against held-out real images.

        Like for like: the train-side and held-out-side Fréchet distances compare the whole
        generated set with real sets of the same size ``eval/n_real`` (the smaller of the two,
        the other subsampled); precision and recall use ``eval/n_pr`` generated and as many
        held-out real images. ``eval/minority_share`` is the share of generated images the
        feature network assigns to the class they were generated for, and
        ``eval/real_minority_share`` the same for the held-out real images (its reference: the
        network, trained on the imbalanced split, misses some real ones); ``copy/*`` compares each
        generated image's distance to its nearest training image with that of held-out real
        images of its class (see :func:`copy_statistics`); ``eval/n_held_out``: the fewest
        held-out images of any class generated.
        """
        fake_labels, held_out_labels = fake_labels.cpu(), held_out_labels.cpu()
        fake_f, held_f = self.features(fake), self.features(held_out)
        g = torch.Generator().manual_seed(int(seed))

        def subsample(feats: torch.Tensor, n: int) -> torch.Tensor:
            return feats[torch.randperm(len(feats), generator=g)[:n].to(feats.device)]

        n_real = min(len(self.real_train), len(held_f))
        train_n, held_n = subsample(self.real_train, n_real), subsample(held_f, n_real)
        n_pr = min(n_real, len(fake_f))
        precision, recall = precision_recall(held_n[:n_pr], subsample(fake_f, n_pr), k=self.k)
        near, judged, ratios = 0.0, 0, []
        for c in sorted(set(fake_labels.tolist())):
            train_c = self.real_train[self.train_labels.to(self.real_train.device) == c]
            held_c = held_f[held_out_labels.to(held_f.device) == c]
            fake_c = fake_f[fake_labels.to(fake_f.device) == c]
            if len(train_c) and len(held_c) > 1:
                count, ratio = copy_statistics(fake_c, train_c, held_c)
                near, judged = near + count, judged + len(fake_c)
                ratios.append(ratio)
        return {
            "eval/fd_train": frechet_distance_features(train_n, fake_f),
            "eval/fd_test": frechet_distance_features(held_n, fake_f),
            "eval/precision": precision,
            "eval/recall": recall,
            "eval/n_real": n_real,
            "eval/n_fake": len(fake_f),
            "eval/n_pr": n_pr,
            "eval/minority_share": self.class_share(fake, fake_labels),
            # the same for held-out real images: the feature network, trained on the
            # imbalanced split, misses some real minority images itself
            "eval/real_minority_share": self.class_share(held_out, held_out_labels),
            "copy/near_share": near / judged if judged else float("nan"),
            "copy/nn_ratio": min(ratios) if ratios else float("nan"),
            N_HELD_OUT: min(
                int((held_out_labels == c).sum()) for c in sorted(set(fake_labels.tolist()))
            ),
        }


def judge_basis(split: Split, selector: Selector, seed: int) -> dict[str, float | None]:
    """What says whether the quality numbers can judge a generator, and the selection score's
    scale (the GAN_JUDGE fields but ``eval/n_held_out``, which the evaluation counts): the
    feature network's recall on the validation images of each rare class, the lowest kept
    (never the test split: the network chose the epoch), and the real-vs-real distance of
    :meth:`Selector.real_halves_distance`. Draws nothing from the global random stream, so the
    run's numbers stay what they were."""
    val_x, val_y = split.minority_split("val")
    recalls = selector.class_recalls(val_x, val_y)
    seen = [recalls[c] for c in split.minority if c in recalls]
    return {
        FEATURE_VAL_RECALL: min(seen) if len(seen) == len(split.minority) else None,
        REAL_HALVES: selector.real_halves_distance(stream_seed(seed, "selection.real_halves")),
    }
