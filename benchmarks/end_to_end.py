"""End-to-end seconds for ``make bench``: whole runs of the project's commands, each beside a
bare loop that does the same work.

- ``gan``: ``train gan=dcgan`` (``imbalance_gan.train.run``: selection, checkpoints, generation,
  evaluation, publishing; the feature network already cached) vs the same nets, losses,
  optimizers, data, epochs and D schedule in a plain loop that then generates the same number
  of synthetic images, with no selection.
- ``classify``: ``classify experiment=quick`` (``classify``: data, training, validation every
  epoch, test of the best checkpoint, run record) vs a plain loop with the same epochs: train,
  validate (macro F1, the LR schedule on it, the best weights kept), test the best weights.
- ``feature_net``: seconds to train (and cache) the selection's feature network (no bare twin:
  it is what ``gan`` does not pay when cached).

Both sides run in this process (the study runs its runs in-process too); Python's start and
imports are not counted. Bare loops start from the data module's tensors, already in memory.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict
from torchmetrics.functional.classification import multiclass_f1_score

from imbalance_gan.data import split_from_config
from imbalance_gan.data.loader import EpochSampler
from imbalance_gan.generators.gan.losses import get_loss, gradient_penalty
from imbalance_gan.generators.pipeline import build_generator
from imbalance_gan.generators.selection import load_or_train_feature_net
from imbalance_gan.runtime.trainer import seed_all


def _limit(cfg: DictConfig, key: str, n: int) -> int:
    """The number of batches a ``trainer.limit_*`` key leaves of ``n`` (null: all)."""
    value = cfg.trainer.get(key)
    if value is None:
        return n
    return min(n, int(value)) if isinstance(value, int) else int(n * float(value))


def _batches(x: torch.Tensor, y: torch.Tensor, size: int, seed: int, epoch: int, limit: int):
    """One epoch's batches in the order of the data module's sampler, ``limit`` of them."""
    sampler = EpochSampler(len(x), seed)
    sampler.set_epoch(epoch)
    order = sampler.indices()
    for i in range(min(limit, -(-len(x) // size))):
        sl = order[i * size : (i + 1) * size]
        yield x[sl], y[sl]


def timed(fn: Callable[[], object], clock: Callable[[], float]) -> float:
    """Seconds ``fn()`` takes on ``clock``."""
    t0 = clock()
    fn()
    return clock() - t0


class EndToEnd:
    """Composed configs for the end-to-end paths; one method per measured path."""

    def __init__(
        self,
        compose: Callable[[str, list[str], Path], DictConfig],
        out: Path,
        gan_overrides: list[str],
        classify_overrides: list[str],
    ) -> None:
        self.out = out
        self.gan_cfg = compose("train", ["gan=dcgan", *gan_overrides], out / "gan")
        self.cls_cfg = compose("classify", classify_overrides, out / "classify")
        for cfg in (self.gan_cfg, self.cls_cfg):
            with open_dict(cfg):
                cfg.paths.artifact_dir = str(out / "artifacts")  # one feature-net cache
        self.gan_dm = split_from_config(self.gan_cfg.data)
        self._runs = 0

    def _fresh(self, cfg: DictConfig, name: str) -> DictConfig:
        """``cfg`` writing into a new output dir; the GAN cache emptied, the feature net kept."""
        self._runs += 1
        cfg = copy.deepcopy(cfg)
        with open_dict(cfg):
            cfg.paths.output_dir = str(self.out / f"{name}{self._runs}")
        shutil.rmtree(self.out / "artifacts" / "gan", ignore_errors=True)
        return cfg

    def feature_net(self) -> None:
        """Train the selection's feature network as a cache miss does, into an empty cache
        (where the GAN runs then find it)."""
        cfg = self.gan_cfg
        shutil.rmtree(self.out / "artifacts" / "feature_nets", ignore_errors=True)
        load_or_train_feature_net(self.gan_dm, cfg.selection, Path(cfg.paths.artifact_dir))

    def gan_project(self) -> None:
        """``python -m imbalance_gan.train gan=dcgan ...``, in-process."""
        from imbalance_gan.train import run

        run(self._fresh(self.gan_cfg, "gan"))

    def gan_bare(self) -> None:
        """The DCGAN recipe in a plain loop: same data order, D schedule and losses; then the
        synthetic images; no selection, checkpoints or logging."""
        cfg, dm = self.gan_cfg, self.gan_dm
        g = cfg.gan
        seed_all(cfg.seed)
        model = build_generator(cfg, list(dm.minority))
        gen, disc = model.generator, model.discriminator
        opt_g, opt_d = model.optimizer_g(gen.parameters()), model.optimizer_d(disc.parameters())
        loss = get_loss(g.loss)
        x, y = dm.minority_split("train")
        limit = _limit(cfg, "limit_train_batches", -(-len(x) // g.batch_size))
        for epoch in range(int(g.max_epochs)):
            for i, (real, _) in enumerate(_batches(x, y, g.batch_size, dm.seed, epoch, limit)):
                fake = gen(torch.randn(len(real), gen.latent_dim), None)
                if epoch < g.d_warmup_epochs or i % g.d_every == 0:
                    d_loss = loss.d(disc(real, None), disc(fake.detach(), None))
                    if g.gp_weight > 0:
                        d_loss = d_loss + g.gp_weight * gradient_penalty(
                            disc, real, fake.detach(), None, on=g.gp_on
                        )
                    opt_d.zero_grad(set_to_none=True)
                    d_loss.backward()
                    opt_d.step()
                disc.requires_grad_(False)
                g_loss = loss.g(disc(fake, None))
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                disc.requires_grad_(True)
        gen.eval()
        with torch.no_grad():
            n = int(g.num_synthetic) * len(dm.minority)
            torch.cat([gen(z, None) for z in torch.randn(n, gen.latent_dim).split(1000)])

    def classify_project(self) -> None:
        """``python -m imbalance_gan.classify experiment=quick``, in-process."""
        from imbalance_gan.classifier.pipeline import classify

        classify(self._fresh(self.cls_cfg, "classify"))

    def classify_bare(self) -> None:
        """The CNN in a plain loop: the same epochs; validation (macro F1) after each, the LR
        schedule on it and the best weights kept; the test set through the best weights."""
        cfg = self.cls_cfg
        c = cfg.classifier
        seed_all(cfg.seed)
        dm = split_from_config(cfg.data)
        net = instantiate(c.net)
        opt = instantiate(c.optimizer)(net.parameters())
        sched = instantiate(c.scheduler)(opt) if c.scheduler else None
        classes = dm.num_classes

        def predict(x: torch.Tensor, limit: int) -> torch.Tensor:
            net.eval()
            with torch.no_grad():
                out = [net(b).softmax(1) for b in x.split(c.eval_batch_size)[:limit]]
            net.train()
            return torch.cat(out)

        n_train = -(-len(dm.train_x) // c.batch_size)
        limit = _limit(cfg, "limit_train_batches", n_train)
        val_limit = _limit(cfg, "limit_val_batches", -(-len(dm.val_x) // c.eval_batch_size))
        best, best_state = -1.0, None
        net.train()
        for epoch in range(int(c.max_epochs)):
            for xb, yb in _batches(dm.train_x, dm.train_y, c.batch_size, dm.seed, epoch, limit):
                loss = F.cross_entropy(net(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            probs = predict(dm.val_x, val_limit)
            f1 = multiclass_f1_score(
                probs, dm.val_y[: len(probs)], num_classes=classes, average="macro"
            ).item()
            if sched is not None:
                sched.step(f1)
            if f1 > best:
                best, best_state = f1, copy.deepcopy(net.state_dict())
        net.load_state_dict(best_state)
        probs = predict(dm.test_x, len(dm.test_x))
        multiclass_f1_score(probs, dm.test_y, num_classes=classes, average="macro")
