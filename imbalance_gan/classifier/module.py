"""The classifier LightningModule: the study's CNN, its loss, metrics at epoch end."""

from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.trainer.states import TrainerFn
from torch import nn

from imbalance_gan.classifier.adjust import Identity, LogitAdjustment
from imbalance_gan.classifier.losses import CrossEntropy, Loss
from imbalance_gan.classifier.metrics import classification_metrics, scalar_view
from imbalance_gan.classifier.retrain import Retrain
from imbalance_gan.classifier.schedules import is_per_step
from imbalance_gan.runtime.errors import DivergenceError

#: a per-batch augmentation: training (images, labels) -> (images, labels)
BatchAugment = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class ClassifierModule(pl.LightningModule):
    """Trains ``net`` with ``loss`` (unweighted cross-entropy when ``None``).

    Validation and test predictions are gathered over the epoch and scored once at its end, so
    the training step does no metric work and no host sync. ``augment`` (``None``: none) warps
    every training batch afresh; ``logit_adjustment`` (``None``: none) changes the logits before
    the softmax at validation and test. Validation and test images are never augmented.
    ``channels_last`` makes ``net`` and its inputs NHWC (the study's CNN is NHWC by itself).
    ``retrain`` (``None``: none) freezes the features and retrains a fresh head for the last
    part of the budget (cRT); the checkpoint monitor then counts only those epochs.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., object] | None = None,
        loss: Loss | None = None,
        monitor: str = "val/f1_macro",
        channels_last: bool = False,
        augment: BatchAugment | None = None,
        logit_adjustment: LogitAdjustment | None = None,
        retrain: Retrain | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if augment is not None and not callable(augment):
            raise TypeError(f"augment must be callable, not {augment!r}")
        self.augment = augment
        self.net = net
        self.loss = loss if loss is not None else CrossEntropy()
        self.logit_adjustment = logit_adjustment if logit_adjustment is not None else Identity()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.monitor = monitor
        self.retrain, self.seed = retrain, int(seed)
        if retrain is not None:  # whether the head was reset (a resumed run must not redo it)
            self.register_buffer("head_retrained", torch.zeros((), dtype=torch.bool))
        self.channels_last = channels_last
        self._outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        # running sums for the epoch's mean loss (kept across a mid-epoch resume's missing hooks)
        self._loss_sum = torch.zeros(())
        self._loss_n = 0
        self.val_metrics: dict = {}
        #: validation metrics of each epoch of this fit (1-based), to skip validating again the
        #: checkpoint of one of them (a resumed run lacks the epochs before its restart)
        self.val_history: dict[int, dict] = {}
        self.test_metrics: dict = {}
        self.test_probs: torch.Tensor | None = None
        self.test_targets: torch.Tensor | None = None
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    # -- training ---------------------------------------------------------------------------------
    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, y, *weight = batch
        if self.augment is not None:
            x, y = self.augment(x, y)
        progress = self._progress(batch_idx)
        if weight:  # (images, labels, loss weights): generated images weigh less
            loss = self.weighted_loss(self(x), y, weight[0], progress)
        else:
            loss = self.loss(self(x), y, progress)
        self._loss_sum = self._loss_sum.to(loss.device) + loss.detach()
        self._loss_n += 1
        return loss

    def weighted_loss(
        self, logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, progress: float
    ) -> torch.Tensor:
        """The batch's loss with image i's term scaled by ``weight[i]``: the images of each
        weight value get the loss's own mean over them, and the parts add up as shares of the
        batch, Σ_w (n_w / N) · w · loss(part w); with every weight 1 this is the loss itself
        (for a loss that is a plain mean over images, exactly (1/N) Σ_i w_i ℓ_i)."""
        total = logits.new_zeros(())
        for w in torch.unique(weight):
            part = weight == w
            share = part.sum() / len(weight)
            total = total + share * w * self.loss(logits[part], y[part], progress)
        return total

    def _progress(self, batch_idx: int) -> float:
        """The share of the epoch budget done before this batch (0 outside a Trainer)."""
        trainer = self._trainer
        if trainer is None or not trainer.max_epochs or trainer.max_epochs < 0:
            return 0.0
        batches = trainer.num_training_batches
        within = batch_idx / batches if 0 < batches < float("inf") else 0.0
        return (self.current_epoch + within) / trainer.max_epochs

    def _retraining(self) -> bool:
        """Whether this epoch is one of cRT's head-only epochs."""
        trainer = self._trainer
        if self.retrain is None or trainer is None or not trainer.max_epochs:
            return False
        return self.current_epoch >= self.retrain.first_epoch(trainer.max_epochs)

    @property
    def checkpoint_monitor(self) -> str:
        """The validation key the best checkpoint is chosen by: ``monitor``, or under cRT
        ``val/retrain_score`` (``monitor`` in a retraining epoch, -1 before)."""
        return self.monitor if self.retrain is None else "val/retrain_score"

    def _enter_retraining(self) -> None:
        """In a retraining epoch: freeze the features (again: requires_grad is not part of a
        checkpoint) and, the first time only, reset the head."""
        if not self._retraining():
            return
        net = getattr(self.net, "_orig_mod", self.net)
        self.retrain.freeze_features(net)
        if not bool(self.head_retrained):
            self.retrain.reset_head(net, self.optimizers().optimizer, self.seed)
            self.head_retrained.fill_(True)

    def on_train_start(self) -> None:
        # a run resumed in the middle of an epoch skips that epoch's on_train_epoch_start
        self._enter_retraining()

    def on_train_epoch_start(self) -> None:
        self._enter_retraining()

    def on_train_epoch_end(self) -> None:
        mean = self._loss_sum / max(self._loss_n, 1)
        self._loss_sum, self._loss_n = torch.zeros((), device=self.device), 0
        if not torch.isfinite(mean):
            raise DivergenceError(f"train/loss is {mean.item()} in epoch {self.current_epoch + 1}")
        self.log("train/loss", mean)

    # -- evaluation -------------------------------------------------------------------------------
    def _collect(self, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = batch
        # the logits whose softmax the loss trained (LDAM's s · cos; the net's own otherwise)
        self._outputs.append((self(x).float() * self.loss.logit_scale, y))

    def _gather(self, choose: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The epoch's softmax outputs after the logit adjustment, and the targets; ``choose``
        (validation) first lets the adjustment fit what it chooses to the raw logits."""
        logits = torch.cat([z for z, _ in self._outputs])
        target = torch.cat([t for _, t in self._outputs])
        self._outputs = []
        self.logit_adjustment.attach(getattr(self.net, "_orig_mod", self.net))
        if choose:
            self.logit_adjustment.choose(logits, target)
        return self.logit_adjustment(logits).softmax(dim=1), target

    def on_validation_epoch_start(self) -> None:
        self._outputs = []

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._collect(batch)

    def on_validation_epoch_end(self) -> None:
        probs, target = self._gather(choose=True)
        metrics = classification_metrics(probs, target, prefix="val")
        metrics["val/loss"] = F.nll_loss(probs.clamp_min(1e-12).log(), target).item()
        self.val_metrics = metrics
        if self.trainer.state.fn == TrainerFn.FITTING:
            self.val_history[self.current_epoch + 1] = metrics
        self.log_dict({k: v for k, v in scalar_view(metrics).items() if "_c" not in k})
        if self.retrain is not None and not self.trainer.sanity_checking:
            score = metrics[self.monitor] if self._retraining() else -1.0
            self.log("val/retrain_score", float(score))

    def on_test_epoch_start(self) -> None:
        self._outputs = []

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._collect(batch)

    def on_test_epoch_end(self) -> None:
        probs, target = self._gather()
        self.test_metrics = classification_metrics(probs, target, prefix="test")
        self.test_probs, self.test_targets = probs.cpu(), target.cpu()
        self.log_dict(scalar_view(self.test_metrics))

    # -- optimization -----------------------------------------------------------------------------
    def configure_optimizers(self) -> dict:
        opt = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return {"optimizer": opt}
        if is_per_step(self.scheduler_factory):  # over the whole budget, stepped every batch
            total = int(self.trainer.estimated_stepping_batches)
            schedule = {
                "scheduler": self.scheduler_factory(opt, total_steps=total),
                "interval": "step",
            }
        else:
            schedule = {"scheduler": self.scheduler_factory(opt), "monitor": self.monitor}
        return {"optimizer": opt, "lr_scheduler": schedule}
