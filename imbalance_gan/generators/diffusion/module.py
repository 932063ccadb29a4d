"""The diffusion family's LightningModule: ε-prediction on the cosine schedule, labels dropped
for classifier-free guidance, an EMA of the weights, DDIM sampling."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from imbalance_gan.generators.callback import cycled_labels, noise_generator, update_ema
from imbalance_gan.generators.diffusion.schedule import Schedule, guided
from imbalance_gan.runtime.errors import DivergenceError

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class DiffusionModule(pl.LightningModule):
    """Trains ``net`` (an ε-predictor taking ``(x_t, t, labels)``, with ``null_label``) to predict
    the noise of x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε at a uniform random timestep (mean squared error).

    Each image's label is replaced by the null label with probability ``label_dropout``, so the
    one net learns the conditional and the unconditional model (Ho & Salimans 2022). Sampling
    (:meth:`sample`) runs ``sample_steps`` DDIM steps (eta 0) with guidance ``guidance_scale``
    (1: the conditional model alone) on the EMA copy of the weights, ``net_ema``."""

    conditional = True

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        timesteps: int = 1000,
        label_dropout: float = 0.1,
        guidance_scale: float = 2.0,
        sample_steps: int = 20,
        ema_decay: float = 0.999,
        sample_classes: Sequence[int] = (0,),
        sample_batch: int = 500,
        snr_gamma: float | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= label_dropout < 1.0:
            raise ValueError(f"label_dropout={label_dropout} must be in [0, 1)")
        if not 0.0 < ema_decay < 1.0:
            raise ValueError(f"ema_decay={ema_decay} must lie strictly between 0 and 1")
        if snr_gamma is not None and not snr_gamma > 0:
            raise ValueError(f"snr_gamma={snr_gamma} must be positive (or None: plain MSE)")
        self.net = net
        self.net_ema = copy.deepcopy(net).requires_grad_(False)
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        self.optimizer_factory = optimizer
        self.schedule = Schedule(timesteps)
        self.label_dropout = float(label_dropout)
        self.guidance_scale = float(guidance_scale)
        self.sample_steps = int(sample_steps)
        self.schedule.sampling_timesteps(self.sample_steps)  # refuses an impossible count
        self.ema_decay = float(ema_decay)
        self.sample_classes = list(sample_classes)
        self.sample_batch = int(sample_batch)
        self.snr_gamma = None if snr_gamma is None else float(snr_gamma)
        self._loss_sum, self._loss_n = torch.zeros(()), 0

    # -- training ---------------------------------------------------------------------------------
    def drop_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """``labels`` with each replaced by the null label with probability ``label_dropout``."""
        drop = torch.rand(labels.shape, device=labels.device) < self.label_dropout
        return torch.where(drop, torch.full_like(labels, self.net.null_label), labels)

    def loss(self, x0: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The ε-prediction loss of one batch: MSE between the net's prediction and the noise,
        each image's term weighted by min(SNR_t, γ) / SNR_t when ``snr_gamma`` γ is set
        (Min-SNR-γ, Hang et al. 2023: the nearly clean timesteps stop dominating)."""
        t = torch.randint(0, self.schedule.timesteps, (len(x0),), device=x0.device)
        eps = torch.randn_like(x0)
        x_t = self.schedule.noise(x0, t, eps)
        pred = self.net(x_t, t, self.drop_labels(labels))
        if self.snr_gamma is None:
            return F.mse_loss(pred, eps)
        per_image = F.mse_loss(pred, eps, reduction="none").flatten(1).mean(1)
        snr = self.schedule.snr(t, per_image)
        return (per_image * snr.clamp(max=self.snr_gamma) / snr).mean()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        x0, y = batch
        loss = self.loss(x0, y)
        self._loss_sum = self._loss_sum.to(loss.device) + loss.detach()
        self._loss_n += 1
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self._update_ema()

    def _update_ema(self) -> None:
        update_ema(self.net_ema, self.net, self.ema_decay, self.ema_updates)

    def on_train_epoch_end(self) -> None:
        mean = self._loss_sum / max(self._loss_n, 1)
        self._loss_sum, self._loss_n = torch.zeros((), device=self.device), 0
        if not torch.isfinite(mean):
            raise DivergenceError(f"train/loss is {mean.item()} in epoch {self.current_epoch + 1}")
        self.log("train/loss", mean)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.net.parameters())

    # -- sampling ---------------------------------------------------------------------------------
    def predict_noise(
        self, net: nn.Module, x_t: torch.Tensor, t: int, labels: torch.Tensor
    ) -> torch.Tensor:
        """The guided noise prediction at timestep ``t`` (one net call with scale 1, else a
        conditional and an unconditional half of one doubled batch)."""
        steps = torch.full((len(x_t),), t, device=x_t.device, dtype=torch.long)
        if self.guidance_scale == 1.0:
            return net(x_t, steps, labels)
        null = torch.full_like(labels, self.net.null_label)
        both = net(torch.cat([x_t, x_t]), torch.cat([steps, steps]), torch.cat([labels, null]))
        eps_cond, eps_uncond = both.chunk(2)
        return guided(eps_cond, eps_uncond, self.guidance_scale)

    @torch.no_grad()
    def sample(
        self, n: int, classes: Sequence[int] | None = None, seed: int | None = None
    ) -> torch.Tensor:
        """``n`` images in [-1, 1], labels cycling over ``classes``: DDIM from noise drawn from
        ``seed`` (the same seed, the same images), on the EMA weights (eval mode, no grad)."""
        classes = list(classes if classes is not None else self.sample_classes)
        x = torch.randn((n, *self.net.image_shape), generator=noise_generator(seed))
        x = x.to(self.device)
        labels = cycled_labels(classes, n).to(self.device)
        net = self.net_ema
        was_training = net.training
        net.eval()
        steps = self.schedule.sampling_timesteps(self.sample_steps)
        out = []
        for xb, lb in zip(x.split(self.sample_batch), labels.split(self.sample_batch), strict=True):
            for t, t_prev in zip(steps, [*steps[1:], -1], strict=True):
                xb = self.schedule.ddim_step(xb, self.predict_noise(net, xb, t, lb), t, t_prev)
            out.append(xb.clamp(-1, 1).float())
        net.train(was_training)
        return torch.cat(out)
