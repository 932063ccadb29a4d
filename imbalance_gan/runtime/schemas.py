"""The types of the config keys every run reads, as dataclasses in Hydra's ConfigStore,
registered when the package is imported: a value of the wrong type (``scenario.use_generator=
maybe``) is refused when the config is composed, in one line, before any work. What a value
means for another group, and ranges the types cannot say, are :mod:`imbalance_gan.classifier.
rules`'s to check.

A config file takes its schema first in its defaults list (``conf/_base/scenario.yaml``:
``- /_schema/scenario@_here_``) and says only its values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

#: the scenario families the report groups by
SCENARIO_FAMILIES = ("reference", "classic", "generative")


@dataclass
class ScenarioSchema:
    """A scenario: a data operation on the training split (``conf/scenario/``)."""

    name: str = MISSING
    family: str = MISSING  # one of SCENARIO_FAMILIES
    augment: Any = None  # a partial augmenter config: (x, y, minority, num_classes, seed, ...)
    target_count: int | None = None
    generator_share: float = 1.0
    use_generator: bool = False
    synthetic_weight: float | None = None
    class_agnostic: bool = False
    class_weighting: bool = False
    balanced: bool = False


def register() -> None:
    """Put the schemas into Hydra's ConfigStore (a second call changes nothing)."""
    ConfigStore.instance().store(group="_schema", name="scenario", node=ScenarioSchema)
