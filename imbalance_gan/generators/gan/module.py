"""The GAN family's LightningModule: a generator against a discriminator, manual optimization."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Sequence

import pytorch_lightning as pl
import torch
from torch import nn

from imbalance_gan.generators.callback import cycled_labels, noise_generator, update_ema
from imbalance_gan.generators.gan.diffaug import DiffAugment
from imbalance_gan.generators.gan.losses import get_loss, gradient_penalty
from imbalance_gan.runtime.errors import DivergenceError

#: builds an optimizer from parameters (a ``_partial_`` optimizer config, instantiated)
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]

log = logging.getLogger("imbalance_gan.generators")


def mode_seeking_penalty(
    fake_a: torch.Tensor, fake_b: torch.Tensor, z_a: torch.Tensor, z_b: torch.Tensor
) -> torch.Tensor:
    """MSGAN's term, ``1 / (mean |G(z_a) - G(z_b)| / mean |z_a - z_b|)`` over pairs with the
    same label: small when distinct noise gives distinct images."""
    ratio = (fake_a - fake_b).abs().mean() / (z_a - z_b).abs().mean()
    return 1.0 / (ratio + 1e-5)


class GANModule(pl.LightningModule):
    """Trains a generator against a discriminator with the study's rule by default.

    The discriminator steps on every batch for ``d_warmup_epochs`` epochs and then on every
    ``d_every``-th batch; the generator steps on every batch. Losses act on logits; the
    gradient penalty on the logit or, as in the study, on its Sigmoid (``gp_on``). A generator
    with ``conditional = True`` gets the batch's labels, and so does the discriminator.

    Options for small data: ``diffaug`` (a DiffAugment policy, applied to every image the
    discriminator sees, real and fake) and ``ema_decay`` (an exponential moving average of the
    generator's weights, ``generator_ema``, which is then what :meth:`sample` uses).

    ``mode_seeking`` (a weight, 0 = off) adds the mode-seeking term of MSGAN (Mao et al. 2019)
    to the generator's loss: half the batch's labels get a second image from fresh noise, and
    the generator pays ``1 / ratio``, ``ratio`` being the mean distance of the paired images
    over the mean distance of their ``z``, so a generator that ignores its noise (one image per
    class) pays for it.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        loss: str = "bce_gp",
        gp_weight: float = 0.0,
        d_warmup_epochs: int = 10,
        d_every: int = 1,
        sample_classes: Sequence[int] = (0,),
        gp_on: str = "logit",
        diffaug: str | None = None,
        ema_decay: float | None = None,
        mode_seeking: float = 0.0,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.loss = get_loss(loss)
        self.gp_weight = float(gp_weight)
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.d_warmup_epochs, self.d_every = int(d_warmup_epochs), max(1, int(d_every))
        self.conditional = bool(getattr(generator, "conditional", False))
        self.sample_classes = list(sample_classes)
        self.gp_on = gp_on
        self.augment = DiffAugment(diffaug)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.mode_seeking = float(mode_seeking)
        if self.mode_seeking < 0:
            raise ValueError(f"mode_seeking={mode_seeking} must be at least 0")
        self.generator_ema: nn.Module | None = None
        if self.ema_decay is not None:
            if not 0.0 < self.ema_decay < 1.0:
                raise ValueError(f"ema_decay={ema_decay} must lie strictly between 0 and 1")
            self.generator_ema = copy.deepcopy(generator).requires_grad_(False)
            # EMA updates so far (a buffer, so a resumed run continues the warm-up)
            self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        self._reset_sums()

    @property
    def sampler(self) -> nn.Module:
        """The generator that makes samples: the EMA copy when there is one."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def _update_ema(self) -> None:
        update_ema(self.generator_ema, self.generator, self.ema_decay, self.ema_updates)

    def _reset_sums(self) -> None:
        # epoch sums of the D and G losses and of D's mean output on real and fake images;
        # reset at epoch end (a mid-epoch resume skips the start)
        self._sums = torch.zeros(4)
        self._counts = [0, 0]

    def sample(
        self, n: int, classes: Sequence[int] | None = None, seed: int | None = None
    ) -> torch.Tensor:
        """``n`` generated images in [-1, 1], labels cycling over ``classes`` (eval mode, no grad)."""
        classes = list(classes if classes is not None else self.sample_classes)
        z = torch.randn(n, self.generator.latent_dim, generator=noise_generator(seed))
        z = z.to(self.device)
        labels = cycled_labels(classes, n).to(self.device)
        net = self.sampler
        was_training = net.training
        net.eval()
        with torch.no_grad():
            out = torch.cat(
                [
                    net(zb, lb).float()
                    for zb, lb in zip(z.split(1000), labels.split(1000), strict=True)
                ]
            )
        net.train(was_training)
        return out

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        real, y = batch
        labels = y if self.conditional else None
        self._sums = self._sums.to(real.device)
        opt_g, opt_d = self.optimizers()
        z = torch.randn(len(real), self.generator.latent_dim, device=self.device)
        fake = self.generator(z, labels)

        if self.current_epoch < self.d_warmup_epochs or batch_idx % self.d_every == 0:
            self.toggle_optimizer(opt_d)
            real_d, fake_d = self.augment(real), self.augment(fake.detach())
            d_real, d_fake = self.discriminator(real_d, labels), self.discriminator(fake_d, labels)
            d_loss = self.loss.d(d_real, d_fake)
            if self.gp_weight > 0:
                d_loss = d_loss + self.gp_weight * gradient_penalty(
                    self.discriminator, real_d, fake_d, labels, on=self.gp_on
                )
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            opt_d.step()
            self.untoggle_optimizer(opt_d)
            self._sums[0] += d_loss.detach()
            self._sums[2] += d_real.detach().mean()
            self._sums[3] += d_fake.detach().mean()
            self._counts[0] += 1

        self.toggle_optimizer(opt_g)
        g_loss = self.loss.g(self.discriminator(self.augment(fake), labels))
        if self.mode_seeking > 0:
            # a second image for each of the first half's labels, from fresh noise
            half = max(1, len(real) // 2)
            z2 = torch.randn(half, self.generator.latent_dim, device=self.device)
            twin = self.generator(z2, None if labels is None else labels[:half])
            g_loss = g_loss + self.mode_seeking * mode_seeking_penalty(
                fake[:half], twin, z[:half], z2
            )
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)
        if self.generator_ema is not None:
            self._update_ema()
        self._sums[1] += g_loss.detach()
        self._counts[1] += 1

    def on_train_epoch_end(self) -> None:
        d_steps = max(self._counts[0], 1)
        d_loss = self._sums[0] / d_steps
        g_loss = self._sums[1] / max(self._counts[1], 1)
        # D's mean output (logit) on real and on fake images: they meet when G wins, and part
        # for good when D wins (an early sign of collapse)
        d_real, d_fake = self._sums[2] / d_steps, self._sums[3] / d_steps
        self._reset_sums()
        for name, value in (("train/d_loss", d_loss), ("train/g_loss", g_loss)):
            if not torch.isfinite(value):
                raise DivergenceError(f"{name} is {value.item()} in epoch {self.current_epoch + 1}")
        self.log_dict(
            {
                "train/d_loss": d_loss,
                "train/g_loss": g_loss,
                "train/d_real": d_real,
                "train/d_fake": d_fake,
            }
        )

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [
            self.optimizer_g(self.generator.parameters()),
            self.optimizer_d(self.discriminator.parameters()),
        ]
