"""The diffusion family: a class-conditional denoising diffusion model (:mod:`.module`) on the
cosine schedule with classifier-free guidance and DDIM sampling (:mod:`.schedule`), its noise
predictor diffusers' U-Net (:mod:`imbalance_gan.nets.unet`). ``conf/gan/diffusion.yaml`` is
its config; it trains on every class, like ``projgan``."""

from __future__ import annotations

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from imbalance_gan.generators.diffusion.module import DiffusionModule
from imbalance_gan.runtime.errors import UserError, raise_user_error

#: the longest noise schedule taken (DDPM's is 1,000; the schedule's tables grow with it)
MAX_TIMESTEPS = 100_000


class DiffusionFamily:
    """The diffusion family's side of :class:`~imbalance_gan.generators.family.GeneratorFamily`."""

    @staticmethod
    def check(cfg: DictConfig) -> None:
        g = cfg.gan
        if not 2 <= int(g.timesteps) <= MAX_TIMESTEPS:
            raise UserError(f"gan.timesteps={g.timesteps} must be between 2 and {MAX_TIMESTEPS}")
        if not 1 <= int(g.sample_steps) <= int(g.timesteps):
            raise UserError(
                f"gan.sample_steps={g.sample_steps} must be between 1 and gan.timesteps={g.timesteps}"
            )
        if not 0.0 <= float(g.label_dropout) < 1.0:
            raise UserError(f"gan.label_dropout={g.label_dropout} must be in [0, 1)")
        if float(g.guidance_scale) < 0:
            raise UserError(f"gan.guidance_scale={g.guidance_scale} must be at least 0 (1 = none)")
        if not 0.0 < float(g.ema_decay) < 1.0:
            raise UserError(f"gan.ema_decay={g.ema_decay} must lie strictly between 0 and 1")
        if g.get("snr_gamma") is not None and not float(g.snr_gamma) > 0:
            raise UserError(f"gan.snr_gamma={g.snr_gamma} must be positive (null: plain MSE)")
        if float(g.guidance_scale) != 1.0 and float(g.label_dropout) == 0.0:
            raise UserError(
                f"gan.guidance_scale={g.guidance_scale} needs the unconditional model, which "
                "gan.label_dropout=0 never trains: set label_dropout > 0 or guidance_scale=1"
            )
        with torch.random.fork_rng(devices=[]):  # the net refuses a shape it cannot take
            try:
                instantiate(g.net)
            except InstantiationException as err:
                raise_user_error(err)
                raise

    @staticmethod
    def is_conditional(cfg_gen: DictConfig) -> bool:
        return True

    @staticmethod
    def build(cfg: DictConfig, minority: list[int]) -> DiffusionModule:
        g = cfg.gan
        return DiffusionModule(
            net=instantiate(g.net),
            optimizer=instantiate(g.optimizer, _convert_="all"),
            timesteps=g.timesteps,
            label_dropout=g.label_dropout,
            guidance_scale=g.guidance_scale,
            sample_steps=g.sample_steps,
            ema_decay=g.ema_decay,
            sample_classes=minority,
            snr_gamma=g.get("snr_gamma"),
        )
