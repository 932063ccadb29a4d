"""What every generator family shares while it trains: the callback that scores it and keeps
its best checkpoint (``best.ckpt``), and its sample grid.

A generator module (see :mod:`imbalance_gan.generators.family`) is a LightningModule with
``conditional`` and ``sample(n, classes, seed)``; nothing here knows which family it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from torchvision.utils import make_grid

from imbalance_gan.record import SELECTION_SCORE
from imbalance_gan.runtime.errors import DivergenceError
from imbalance_gan.runtime.progress import steps_done


def cycled_labels(classes: Sequence[int], n: int) -> torch.Tensor:
    """The labels a generator module's ``sample`` gives ``n`` images: ``classes`` repeated in turn."""
    return torch.tensor(list(classes)).repeat(math.ceil(n / len(classes)))[:n]


def noise_generator(seed: int | None) -> torch.Generator:
    """The CPU generator a module's ``sample`` draws its noise from: seeded by ``seed`` (the same
    seed, the same images), or freshly at random without one."""
    g = torch.Generator(device="cpu")
    if seed is not None:
        g.manual_seed(seed)
    else:
        g.seed()
    return g


@torch.no_grad()
def update_ema(
    average: torch.nn.Module, live: torch.nn.Module, decay: float, updates: torch.Tensor
):
    """One step of an exponential moving average of ``live``'s weights into ``average``; the
    decay warms up as (1 + t) / (10 + t), t = ``updates`` so far (a buffer, incremented here, so
    a resumed run continues the warm-up), so early averages are not stuck at the init. Buffers
    (BatchNorm statistics) are not averaged: the copy takes the live ones."""
    t = int(updates)
    rate = 1.0 - min(decay, (1 + t) / (10 + t))
    for avg, now in zip(average.parameters(), live.parameters(), strict=True):
        avg.lerp_(now, rate)
    for avg, now in zip(average.buffers(), live.buffers(), strict=True):
        avg.copy_(now)
    updates += 1


def save_checkpoint(trainer: pl.Trainer, path: Path) -> None:
    """Save a full checkpoint (atomically: the Trainer's checkpoint IO writes then renames)."""
    trainer.save_checkpoint(str(path), weights_only=False)


class SelectionCallback(pl.Callback):
    """Scores the generator every few epochs (or every ``every_n_steps`` generator steps), keeps
    ``best.ckpt`` (lowest score) and logs a sample grid; writes ``last.ckpt`` when training ends
    (the trainer's ResumeCallback writes it on its interval and on a signal, so a run can resume).

    With ``max_steps`` the budget is counted in generator steps (batches) instead of epochs: the
    run stops after that many, whatever the size of an epoch, and the history and the chosen
    point are in steps (``unit``).
    """

    def __init__(
        self,
        selector,
        ckpt_dir: Path,
        every_n_epochs: int,
        num_samples: int,
        grid_classes: Sequence[int],
        seed: int,
        every_n_steps: int | None = None,
        max_steps: int | None = None,
    ) -> None:
        self.selector = selector
        self.ckpt_dir = Path(ckpt_dir)
        self.every = max(1, int(every_n_epochs))
        self.every_steps = None if every_n_steps is None else max(1, int(every_n_steps))
        self.max_steps = None if max_steps is None else int(max_steps)
        self.unit = "step" if self.max_steps is not None else "epoch"
        self.num_samples = int(num_samples)
        self.grid_classes = list(grid_classes)
        self.seed = int(seed)
        self.history: list[tuple[int, float]] = []
        self.best_score = math.inf
        self.best_epoch = 0
        self.best_step: int | None = None

    def state_dict(self) -> dict:
        return {
            "history": self.history,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_step": self.best_step,
        }

    def load_state_dict(self, state: dict) -> None:
        self.history = [tuple(h) for h in state["history"]]
        self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
        self.best_step = state.get("best_step")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.unit != "step":
            return
        step = steps_done(trainer, batch_idx)  # one generator step per batch
        last = step >= self.max_steps
        if last or (self.every_steps and step % self.every_steps == 0):
            self._evaluate(trainer, pl_module, step)
        if last:
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if self.unit == "epoch" and (epoch % self.every == 0 or epoch == trainer.max_epochs):
            self._evaluate(trainer, pl_module, epoch)
        if epoch == trainer.max_epochs or trainer.should_stop:
            # the end of training: a run killed while it generates need not train again
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            save_checkpoint(trainer, self.ckpt_dir / "last.ckpt")

    def _evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule, at: int) -> None:
        # a fixed noise seed, so scores differ only because the generator did
        fake = pl_module.sample(self.num_samples, seed=self.seed)
        if not torch.isfinite(fake).all():
            raise DivergenceError(f"the generator's output is not finite at {self.unit} {at}")
        score = self.selector.score(fake)
        self.history.append((at, score))
        pl_module.log(SELECTION_SCORE, score)
        if score < self.best_score:
            self.best_score = score
            self.best_epoch = trainer.current_epoch + 1
            self.best_step = at if self.unit == "step" else None
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            save_checkpoint(trainer, self.ckpt_dir / "best.ckpt")
        grid = sample_grid(pl_module, self.grid_classes, seed=self.seed)
        for lg in trainer.loggers:
            exp = getattr(lg, "experiment", None)
            if hasattr(exp, "add_image"):
                exp.add_image("samples", grid, global_step=at)


def sample_grid(
    pl_module: pl.LightningModule,
    classes: Sequence[int],
    per_row: int = 10,
    rows: int = 10,
    seed: int = 0,
) -> torch.Tensor:
    """A [3, H, W] image grid in [0, 1]; for a conditional generator one row per class."""
    if pl_module.conditional:
        imgs = torch.cat([pl_module.sample(per_row, [c], seed=seed) for c in classes])
        nrow = per_row
    else:
        imgs = pl_module.sample(per_row * rows, seed=seed)
        nrow = per_row
    return make_grid(imgs.cpu(), nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1.0)
