"""Every rule a classify config keeps across its groups, in one place, checked on the composed
config before any work: by ``classify`` and, for each run it plans, by ``study`` before the
first run starts. Types are the schemas' (``imbalance_gan/runtime/schemas.py``, refused when the config
is composed); here are what types cannot say: ranges, and what one group's choice means for
another. Fixes are judged by the classes their configs build (``issubclass`` of what
``instantiate`` resolves, without the training counts some need), never by the text of a
``_target_``. Each rule ends in one line (:class:`UserError`: exit 2).

A generator's own settings (budget, selection, filter, and the family's ``check``) are
``generators/pipeline.py``'s :func:`check_generator_config`, which ``train`` runs too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from imbalance_gan.classifier.adjust import TauNorm
from imbalance_gan.classifier.augment import Mixup
from imbalance_gan.data import cuts_nothing
from imbalance_gan.generators.family import is_conditional
from imbalance_gan.runtime.errors import UserError, raise_user_error
from imbalance_gan.runtime.schemas import SCENARIO_FAMILIES

#: the classifier's config groups built with ``_target_`` (conf/classifier/<group>/); those of
#: OPTIONAL_GROUPS may be null (none)
FIX_GROUPS = ("loss", "sampler", "augment", "logit_adjustment", "retrain")
OPTIONAL_GROUPS = ("augment", "retrain")
CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "classifier"
#: scenario keys renamed when generators became families: old name -> new name
RENAMED_KEYS = {"use_gan": "use_generator", "gan_share": "generator_share"}


def _built(node: DictConfig):
    """The object a fix's config builds (the fix's own refusal as one line)."""
    try:
        return instantiate(node)
    except InstantiationException as err:  # hydra wraps the fix's own words
        raise_user_error(err)
        raise


def _builds(node: DictConfig | None, kind: type) -> bool:
    """Whether ``node`` builds a ``kind`` (a subclass counts), read from the class its
    ``_target_`` resolves to: nothing is built, so a fix that needs the training class counts
    is judged before there are any."""
    if node is None:
        return False
    try:
        made = instantiate(node, _partial_=True)
    except InstantiationException as err:
        raise_user_error(err)
        raise
    target = getattr(made, "func", made)
    return isinstance(target, type) and issubclass(target, kind)


def check_fixes(cfg: DictConfig) -> None:
    """Each classifier fix is a ``_target_`` config (not an old ``augment=affine``), a
    retraining leaves room in the epoch budget, and a floor of steps is a whole number."""
    c = cfg.classifier
    for group in FIX_GROUPS:
        value = c.get(group)
        if value is None and group in OPTIONAL_GROUPS:
            continue
        if isinstance(value, DictConfig) and "_target_" in value:
            continue
        names = ", ".join(sorted(f.stem for f in (CONF_DIR / group).glob("*.yaml")))
        none = f", or classifier.{group}=null for none" if group in OPTIONAL_GROUPS else ""
        raise UserError(
            f"classifier.{group}={value!r} is not a config with a _target_: write "
            f"classifier/{group}=<name> ({names}){none}"
        )
    if c.get("retrain") is not None:
        _built(c.retrain).first_epoch(int(c.max_epochs))
    min_steps = c.get("min_steps")
    if min_steps is not None and (
        isinstance(min_steps, bool) or not isinstance(min_steps, int) or min_steps < 1
    ):
        raise UserError(f"classifier.min_steps={min_steps!r} must be a whole number >= 1 (or null)")


def check_head(cfg: DictConfig) -> None:
    """τ-normalisation divides the linear head's class weights: it needs that head."""
    c = cfg.classifier
    head = c.net.get("head", "linear")
    if _builds(c.logit_adjustment, TauNorm) and head != "linear":
        raise UserError(
            "classifier/logit_adjustment=tau_norm divides each class's head weights by their "
            f"norm, so it needs classifier.net.head=linear, not {head!r}"
        )


def check_rare_class(cfg: DictConfig) -> None:
    """``data.minority_classes=[]`` under a minority cut (no class cut) only in the balanced
    scenario; with nothing cut (``data.minority_count=null``) it means "the classes below
    ``data.rare_below``", and the balanced scenario would be the data as it is."""
    balanced = cfg.scenario.get("balanced", False)
    if balanced and cuts_nothing(cfg.data):
        raise UserError(
            f"scenario={cfg.scenario.name} trains on every image the data has, and nothing is cut "
            "here (data.minority_count=null): it would be scenario=original; leave it out"
        )
    if not cuts_nothing(cfg.data) and not cfg.data.minority_classes and not balanced:
        raise UserError(
            f"data.minority_classes=[] names no rare class to cut to data.minority_count="
            f"{cfg.data.get('minority_count')}, so scenario={cfg.scenario.name} would train the "
            "balanced set (only scenario=full does that): name it, data.minority_classes=[<name "
            "or index>], or cut nothing, data.minority_count=null"
        )


def check_scenario(cfg: DictConfig) -> None:
    """The scenario's own values: no key of before the rename, a known family, a generator
    share between 0 and 1 with an augmenter for what it leaves."""
    sc = cfg.scenario
    for old, new in RENAMED_KEYS.items():
        if old in sc:  # +scenario.use_gan=... would else be ignored
            raise UserError(f"scenario.{old} is now scenario.{new}")
    if sc.family not in SCENARIO_FAMILIES:
        raise UserError(
            f"scenario.family={sc.family!r} is not one of {', '.join(SCENARIO_FAMILIES)}"
        )
    share = float(sc.generator_share) if sc.use_generator else 0.0
    if not 0.0 <= share <= 1.0:
        raise UserError(f"scenario.generator_share={share} must lie between 0 and 1")
    if share < 1.0 and sc.use_generator and sc.augment is None:
        raise UserError(
            f"scenario.generator_share={share} leaves images to an augmenter, but "
            "scenario.augment is null"
        )


def check_synthetic_weight(cfg: DictConfig) -> None:
    """A loss weight of generated images (``scenario.synthetic_weight``) is positive, in a
    scenario that adds generated images, and without mixup, which blends generated and real
    images into one."""
    sc = cfg.scenario
    weight = sc.get("synthetic_weight")
    if weight is None:
        return
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
        raise UserError(f"scenario.synthetic_weight={weight!r} must be a positive number (or null)")
    if not sc.use_generator:
        raise UserError(
            f"scenario.synthetic_weight={weight} weights generated images, but scenario="
            f"{sc.name} adds none (scenario.use_generator is false)"
        )
    if _builds(cfg.classifier.get("augment"), Mixup):
        raise UserError(
            f"scenario.synthetic_weight={weight} with classifier/augment=mixup: mixup blends "
            "generated and real images, so no image is one or the other; use one of the two"
        )


def check_class_agnostic(cfg: DictConfig) -> None:
    """A class-agnostic variant that can exist: it adds images, and its generator (if any) is
    class-conditional."""
    sc = cfg.scenario
    if not sc.get("class_agnostic"):
        return
    if sc.augment is None and not sc.use_generator:
        raise UserError(
            f"scenario.class_agnostic: {sc.name} adds no images; there is nothing to spread"
        )
    if sc.use_generator and not is_conditional(cfg.gan):
        raise UserError(
            f"scenario.class_agnostic needs a class-conditional generator; gan={cfg.gan.name} "
            "learns the minority only, so its class-agnostic variant does not exist"
        )


#: every rule, in the order they are checked
RULES: tuple[Callable[[DictConfig], None], ...] = (
    check_fixes,
    check_head,
    check_rare_class,
    check_scenario,
    check_synthetic_weight,
    check_class_agnostic,
)


def check_classify_config(cfg: DictConfig) -> None:
    """Refuse (one line) a classify config that breaks any rule, before any work."""
    for rule in RULES:
        rule(cfg)
