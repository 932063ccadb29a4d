"""One progress display for a whole run: budget done of budget total, with an ETA.

On a terminal: one tqdm bar over the run's whole budget (epochs x batches, or a generator's
steps), not one bar per epoch, with the latest logged score (``show``) beside it.
Elsewhere (CI, SLURM logs, files): a log line at every tenth of the budget, and no bar, so
logs stay readable.
"""

from __future__ import annotations

import logging
import sys
import time

from pytorch_lightning.callbacks.progress.progress_bar import ProgressBar

log = logging.getLogger("imbalance_gan.progress")


def steps_done(trainer, batch_idx: int) -> int:
    """Training batches done after batch ``batch_idx`` of the current epoch (every epoch has
    the same number of batches, so this survives a resume); ``-1`` gives those before it."""
    return trainer.current_epoch * int(trainer.num_training_batches) + batch_idx + 1


def clock(seconds: float) -> str:
    """``h:mm:ss``."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class BudgetProgress(ProgressBar):
    """Progress over the run's budget: ``max_steps`` batches when given, else all epochs'."""

    def __init__(self, name: str, max_steps: int | None = None, show: str | None = None):
        super().__init__()
        self.name, self.max_steps, self.show = name, max_steps, show
        self._enabled = True
        self._bar = None
        self._start = 0.0
        self._done0 = 0
        self._next_log = 0.0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _total(self) -> int:
        if self.max_steps is not None:
            return int(self.max_steps)
        return int(self.trainer.max_epochs) * int(self.total_train_batches)

    def on_train_start(self, trainer, pl_module) -> None:
        if not self._enabled:
            return
        self._start = time.monotonic()
        self._done0 = steps_done(trainer, -1)  # a resumed run starts where it was
        if sys.stderr.isatty():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self._total(), initial=self._done0, desc=self.name, unit="step")
        self._next_log = 0.1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self._enabled:
            return
        done, total = min(steps_done(trainer, batch_idx), self._total()), self._total()
        score = trainer.callback_metrics.get(self.show) if self.show else None
        if self._bar is not None:
            self._bar.n = done
            self._bar.set_postfix_str(
                f"epoch {trainer.current_epoch + 1}"
                + (f", {self.show} {float(score):.3f}" if score is not None else ""),
                refresh=False,
            )
            self._bar.refresh()
        elif done / total >= self._next_log or done == total:
            self._next_log = (int(done / total * 10) + 1) / 10
            elapsed = time.monotonic() - self._start
            rate = (done - self._done0) / elapsed if elapsed > 0 else 0.0
            eta = (total - done) / rate if rate > 0 else float("nan")
            log.info(
                "%s: step %d/%d (%.0f%%), epoch %d, elapsed %s, ETA %s%s",
                self.name,
                done,
                total,
                100 * done / total,
                trainer.current_epoch + 1,
                clock(elapsed),
                clock(eta) if eta == eta else "?",
                f", {self.show} {float(score):.3f}" if score is not None else "",
            )

    def on_train_end(self, trainer, pl_module) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
