"""The GAN family: a generator against a discriminator (:mod:`.module`), its losses
(:mod:`.losses`) and DiffAugment (:mod:`.diffaug`). ``vanilla``, ``dcgan``, ``cgan`` and
``projgan`` are configs of it (``conf/gan/``)."""

from __future__ import annotations

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig

from imbalance_gan.generators.gan.diffaug import parse_policy
from imbalance_gan.generators.gan.losses import GP_TARGETS, LOSSES
from imbalance_gan.generators.gan.module import GANModule
from imbalance_gan.runtime.errors import UserError, raise_user_error


class GANFamily:
    """The GAN family's side of :class:`~imbalance_gan.generators.family.GeneratorFamily`."""

    @staticmethod
    def check(cfg: DictConfig) -> None:
        g = cfg.gan
        if g.loss not in LOSSES:
            raise UserError(f"gan.loss={g.loss!r} is not known; choose one of {sorted(LOSSES)}")
        if g.gp_on not in GP_TARGETS:
            raise UserError(f"gan.gp_on={g.gp_on!r} is not known; choose one of {list(GP_TARGETS)}")
        try:
            parse_policy(g.diffaug)
        except ValueError as err:
            raise UserError(f"gan.diffaug={g.diffaug!r}: {err}") from None
        if g.ema_decay is not None and not 0.0 < float(g.ema_decay) < 1.0:
            raise UserError(
                f"gan.ema_decay={g.ema_decay} must lie strictly between 0 and 1 (or null)"
            )
        if float(g.get("mode_seeking", 0.0)) < 0:
            raise UserError(f"gan.mode_seeking={g.mode_seeking} must be at least 0 (0 = off)")
        # the nets refuse an image shape they cannot take (one line) before any training; built
        # on a forked random state, so checking draws nothing from the run's stream
        with torch.random.fork_rng(devices=[]):
            for net in (g.generator, g.discriminator):
                try:
                    instantiate(net)
                except InstantiationException as err:  # hydra wraps the net's own words
                    raise_user_error(err)
                    raise

    @staticmethod
    def is_conditional(cfg_gen: DictConfig) -> bool:
        # the generator class says it (``conditional``); nothing is built
        return bool(getattr(get_class(cfg_gen.generator._target_), "conditional", False))

    @staticmethod
    def build(cfg: DictConfig, minority: list[int]) -> GANModule:
        g = cfg.gan
        return GANModule(
            generator=instantiate(g.generator),
            discriminator=instantiate(g.discriminator),
            # plain lists, not ListConfig, inside optimizer state (checkpoints load weights-only)
            optimizer_g=instantiate(g.optimizer_g, _convert_="all"),
            optimizer_d=instantiate(g.optimizer_d, _convert_="all"),
            loss=g.loss,
            gp_weight=g.gp_weight,
            d_warmup_epochs=g.d_warmup_epochs,
            d_every=g.d_every,
            sample_classes=minority,
            gp_on=g.gp_on,
            diffaug=g.diffaug,
            ema_decay=g.ema_decay,
            mode_seeking=g.get("mode_seeking", 0.0),
        )
