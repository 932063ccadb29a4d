"""The learning-rate schedule over the budget (classifier/scheduler=cosine): it starts at the
optimizer's rate and ends at final_fraction of it on the last batch, whatever the budget."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from imbalance_gan.classifier.module import ClassifierModule
from imbalance_gan.classifier.schedules import cosine, is_per_step

from .conftest import bare_trainer, make_cfg

LR = 2e-3


def _lrs(total: int, **kw) -> list[float]:
    """The learning rate of every optimizer step of a ``total``-step run."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR)
    sched = cosine(opt, total, **kw)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


@pytest.mark.parametrize("total", [2, 3, 7, 211, 2000])
@pytest.mark.parametrize("final", [0.0, 0.1])
def test_cosine_starts_at_the_rate_and_ends_at_its_final_fraction(total, final):
    lrs = _lrs(total, final_fraction=final)
    assert lrs[0] == pytest.approx(LR)
    assert lrs[-1] == pytest.approx(final * LR, abs=1e-12)
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))  # never rises


def test_cosine_warms_up_then_anneals():
    lrs = _lrs(101, warmup_fraction=0.1)
    assert lrs[0] == pytest.approx(LR / 11) and lrs[10] == pytest.approx(LR)
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)
    assert _lrs(1) == [pytest.approx(LR)]  # a one-step budget keeps the rate


class _LR(pl.Callback):
    def __init__(self) -> None:
        self.seen: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen.append(trainer.optimizers[0].param_groups[0]["lr"])


@pytest.mark.parametrize("epochs", [1, 3])
def test_the_classifier_anneals_over_its_whole_budget(epochs, tmp_path):
    cfg = make_cfg("classify", ["classifier/scheduler=cosine"], tmp_path)
    factory = instantiate(cfg.classifier.scheduler)
    assert is_per_step(factory)
    model = ClassifierModule(
        nn.Sequential(nn.Flatten(), nn.Linear(4, 3)),
        instantiate(cfg.classifier.optimizer),
        scheduler=factory,
    )
    data = TensorDataset(torch.randn(20, 1, 2, 2), torch.arange(20) % 3)
    lr = _LR()
    trainer = bare_trainer(tmp_path, epochs)
    trainer.callbacks.append(lr)
    trainer.fit(model, train_dataloaders=DataLoader(data, batch_size=8))  # 3 batches an epoch
    base = float(cfg.classifier.optimizer.lr)
    assert len(lr.seen) == 3 * epochs
    assert lr.seen[0] == pytest.approx(base)
    assert lr.seen[-1] == pytest.approx(0.0, abs=1e-12)


def test_the_default_schedule_is_the_studys_plateau(tmp_path):
    cfg = make_cfg("classify", [], tmp_path)
    assert cfg.classifier.scheduler._target_.endswith("ReduceLROnPlateau")
    assert not is_per_step(instantiate(cfg.classifier.scheduler))
