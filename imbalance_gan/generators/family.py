"""The one interface a generator family implements, and how the shared code finds it.

The config of a generator (the ``gan`` group: ``conf/gan/<name>.yaml``) names its family by
import path, ``family: imbalance_gan.generators.gan.GANFamily``. A family is a class with three
static methods:

- ``check(cfg)``: refuse the family's impossible settings with a :class:`UserError`, before any
  work (the shared settings, budgets and filter are checked by the pipeline);
- ``is_conditional(cfg_gen)``: whether the generator learns every class and takes labels
  (``True``) or learns the minority images only, answered from the config alone;
- ``build(cfg, minority)``: the :class:`GeneratorModule` to train.

A :class:`GeneratorModule` is a LightningModule whose ``training_step`` trains it on batches of
``(images in [-1, 1], labels)``; its budget (epochs, or steps through ``gan.max_steps``) and its
selection are the shared pipeline's (:class:`~imbalance_gan.generators.callback.SelectionCallback`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import pytorch_lightning as pl
import torch
from hydra.utils import get_class
from omegaconf import DictConfig

from imbalance_gan.runtime.errors import UserError


@runtime_checkable
class GeneratorModule(Protocol):
    """What the shared pipeline uses of a trained generator."""

    #: True: trained on every class and conditioned on labels
    conditional: bool

    def sample(
        self, n: int, classes: Sequence[int] | None = None, seed: int | None = None
    ) -> torch.Tensor:
        """``n`` images in [-1, 1] ``[n, C, H, W]``, labels cycling over ``classes`` (eval mode,
        no grad; the same ``seed``, the same images)."""


class GeneratorFamily(Protocol):
    """A family of generators (see the module's docstring)."""

    @staticmethod
    def check(cfg: DictConfig) -> None: ...

    @staticmethod
    def is_conditional(cfg_gen: DictConfig) -> bool: ...

    @staticmethod
    def build(cfg: DictConfig, minority: list[int]) -> pl.LightningModule: ...


#: the family every generator had before configs named one: a config without ``family`` (a run
#: or cache entry saved before) is of it
FIRST_FAMILY = "imbalance_gan.generators.gan.GANFamily"


def family_of(cfg_gen: DictConfig) -> type[GeneratorFamily]:
    """The family class a generator config names (``gan.family``; none: :data:`FIRST_FAMILY`)."""
    path = cfg_gen.get("family") or FIRST_FAMILY
    try:
        return get_class(str(path))
    except Exception as err:
        raise UserError(f"gan.family={path!r} cannot be imported: {err}") from None


def is_conditional(cfg_gen: DictConfig) -> bool:
    """Whether the configured generator is class-conditional, for any family."""
    return bool(family_of(cfg_gen).is_conditional(cfg_gen))
