"""The generator pipeline, for every family: check the config, build the generator module,
train and select, generate.

Used by ``train`` (a generator run of its own), by the generative scenarios (through the cache) and by the
benchmark. A trained run's directory holds ``checkpoints/best.ckpt`` (the selected epoch),
``synthetic.pt``, ``samples.png`` and, written last, ``metrics.json`` (its run record).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torchvision.utils import save_image

from imbalance_gan import record
from imbalance_gan.data import (
    BatchPolicy,
    ModelData,
    Split,
    TrainingSet,
    split_from_config,
    to_uint8,
)
from imbalance_gan.generators import cache
from imbalance_gan.generators.budget import generator_run_seconds, generator_work
from imbalance_gan.generators.callback import SelectionCallback, sample_grid
from imbalance_gan.generators.family import family_of
from imbalance_gan.generators.filtering import check_filter, draw_synthetic
from imbalance_gan.generators.quality import cannot_judge_reasons, quality_floor_misses
from imbalance_gan.generators.selection import Selector, judge_basis, load_or_train_feature_net
from imbalance_gan.runtime.costs import minutes
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.files import atomic_write, torch_save
from imbalance_gan.runtime.progress import BudgetProgress
from imbalance_gan.runtime.resilience import (
    check_checkpoint,
    load_weights_only,
    resumed_seconds,
)
from imbalance_gan.runtime.trainer import Timer, build_trainer, hardware, save_config, seed_all

log = logging.getLogger("imbalance_gan.generators")


def build_generator(cfg: DictConfig, minority: list[int]) -> pl.LightningModule:
    """The generator module of the ``gan`` config group, built by its family."""
    return family_of(cfg.gan).build(cfg, minority)


def load_best(
    model: pl.LightningModule, run_dir: Path, checkpoint: str = "best.ckpt"
) -> pl.LightningModule:
    """Give ``model`` the selected weights of a generator run (``checkpoints/best.ckpt``, or another
    file of ``checkpoints/`` such as ``last.ckpt``; read weights-only: no code is unpickled)."""
    path = run_dir / "checkpoints" / checkpoint
    return _load_state(model, _read_state(path), path)


def _read_state(path: Path) -> dict:
    """The ``state_dict`` of a generator checkpoint, read weights-only; a UserError naming it."""
    try:
        state = load_weights_only(path)["state_dict"]
    except Exception as err:
        raise UserError(f"cannot load the generator {path}: {type(err).__name__}: {err}") from None
    if not isinstance(state, dict):
        raise UserError(f"cannot load the generator {path}: it holds no state_dict")
    return state


def _load_state(model: pl.LightningModule, state: dict, path: Path) -> pl.LightningModule:
    try:
        model.load_state_dict(state)
    except Exception as err:
        raise UserError(f"cannot load the generator {path}: {type(err).__name__}: {err}") from None
    return model


def load_generator(
    cfg: DictConfig, entry: Path, minority: list[int], checkpoint: str = "best.ckpt"
) -> pl.LightningModule:
    """The generator of a finished run or cache entry with its selected weights (or those of
    another ``checkpoint``), in eval mode on the CPU. The checkpoint is read once, and its
    shapes are checked against the generator built on the ``meta`` device, which allocates
    nothing, before the real one is built: a size planted in a run's config (a latent of 10**8)
    is refused before it costs memory."""
    path = entry / "checkpoints" / checkpoint
    state = _read_state(path)
    with torch.random.fork_rng(devices=[]), torch.device("meta"):  # draws nothing from the run
        want = {k: tuple(v.shape) for k, v in build_generator(cfg, minority).state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    for key in sorted(want.keys() | have.keys()):
        if want.get(key) != have.get(key):
            raise UserError(
                f"{entry / 'config.yaml'} describes a generator whose {key} is "
                f"{want.get(key, 'absent')}, but its checkpoint's is {have.get(key, 'absent')}: "
                "refused"
            )
    return _load_state(build_generator(cfg, minority), state, path).eval()


def check_generator_config(cfg: DictConfig, split: Split) -> None:
    """Refuse impossible generator settings before training starts: the family's own, then
    what every family shares (budget, selection, filter, data)."""
    g = cfg.gan
    family_of(g).check(cfg)
    for key in ("batch_size", "max_epochs", "num_synthetic"):
        if int(g[key]) < 1:
            raise UserError(f"gan.{key}={g[key]} must be at least 1")
    for key, value in (
        ("gan.max_steps", g.max_steps),
        ("selection.every_n_steps", cfg.selection.every_n_steps),
    ):
        if value is not None and int(value) < 1:
            raise UserError(f"{key}={value} must be at least 1 (or null)")
    check_filter(g.filter)
    if not split.minority:
        raise UserError(
            "the data config cuts no class (data.minority_classes is empty): nothing to generate"
        )
    n_real = len(split.minority_images("train"))
    if n_real <= int(cfg.selection.pr_k):
        raise UserError(
            f"only {n_real} real minority images: too few for selection.pr_k={cfg.selection.pr_k}"
        )


def as_synthetic(fake: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Generated images (in [-1, 1]) and the labels they were generated for, as a synthetic set:
    uint8 images ``[N, C, H, W]`` and int64 labels, sorted by class (stably)."""
    order = torch.argsort(labels.cpu(), stable=True)
    return to_uint8(fake[order.to(fake.device)].cpu()), labels.cpu()[order]


def train_generator(cfg: DictConfig, out: Path, split: Split | None = None) -> dict:
    """Check ``cfg.gan``, then train it into ``out`` (see :func:`fit_and_generate`)."""
    if split is None:
        split = split_from_config(cfg.data)
    check_generator_config(cfg, split)
    return fit_and_generate(cfg, out, split)


def cached_generator(cfg: DictConfig, split: Split) -> Path:
    """The generator cache entry for ``cfg``: checked, and trained here if no process has it."""
    check_generator_config(cfg, split)

    def build(tmp: Path) -> None:
        log.info(
            "no finished %s generator in the cache for this data/config/seed: training one",
            cfg.gan.name,
        )
        fit_and_generate(cfg, tmp, split)

    return cache.get_or_build(cfg, build)


def generator_for_run(cfg: DictConfig) -> str:
    """The generator a classify run's config needs, from the cache or trained into it (a study's
    job on SLURM); returns its cache entry."""
    return str(cached_generator(cfg, split_from_config(cfg.data)))


def fit_and_generate(cfg: DictConfig, out: Path, split: Split) -> dict:
    """Train a checked ``cfg.gan`` into ``out``; write best/last checkpoints, ``synthetic.pt``,
    ``samples.png`` and, last, ``metrics.json``. Returns the run record."""
    timer = Timer()
    if cfg.trainer.get("accelerator") == "cpu":  # say what a long run costs before it starts
        steps, images = generator_work(cfg, split)
        log.info(
            "generator %s: %d training steps, %d images drawn, %s on a 2-core CPU like this "
            "project's",
            cfg.gan.name,
            steps,
            images,
            minutes(generator_run_seconds(cfg, split)),
        )
    seed_all(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out)
    selector = build_selector(cfg, split)
    seed_all(cfg.seed)
    model = build_generator(cfg, list(split.minority))
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    trainer, select, earlier_attempts_s = fit(cfg, out, split, model, selector, timer)
    if not trainer.is_global_zero:  # DDP: rank 0 generates and writes
        return {record.SELECTION_SCORE: select.best_score}
    load_best(model, out).to(trainer.strategy.root_device)  # the selected checkpoint
    evaluation, filter_info = write_samples(cfg, out, split, model, selector, select.grid_classes)
    run = record.gan_record(
        cfg,
        best_epoch=select.best_epoch,
        best_step=select.best_step,
        selection_unit=select.unit,
        filter_info=filter_info,
        selection_score=select.best_score,
        evaluation=evaluation,
        score_history=select.history,
        minority=list(split.minority),
        real_minority_train=len(selector.real_train),
        collapse_reasons=quality_floor_misses(evaluation, cfg.selection),
        cannot_judge_reasons=cannot_judge_reasons(evaluation, cfg.selection) or [],
        device=str(trainer.strategy.root_device),
        hardware=hardware(),
        wall_time_s=round(timer.elapsed + earlier_attempts_s, 2),
    )
    if run["collapsed"]:
        log.warning("%s is below the quality floor: %s", cfg.gan.name, run["collapse_reason"])
    if run["cannot_judge"]:
        log.warning(
            "%s cannot be judged (still used): %s", cfg.gan.name, run["cannot_judge_reason"]
        )
    record.write(out, run)  # last: marks the run finished
    log.info(
        "%s: best epoch %d, fd_train %.3f, fd_test %.3f, precision %.3f, recall %.3f (%.0fs)",
        cfg.gan.name,
        run["best_epoch"],
        run[record.SELECTION_SCORE],
        run["eval/fd_test"],
        run["eval/precision"],
        run["eval/recall"],
        timer.elapsed,
    )
    return run


def build_selector(cfg: DictConfig, split: Split) -> Selector:
    """The selection's scorer: the feature net, trained on the imbalanced training part only
    (see selection.py), and the training split's real minority images as the reference."""
    feature_net = load_or_train_feature_net(
        split, cfg.selection, Path(cfg.paths.artifact_dir), cfg.paths.get("cache")
    )
    real_train, real_labels = split.minority_split("train")
    return Selector(feature_net, real_train, real_labels, k=cfg.selection.pr_k)


def generator_data(cfg: DictConfig, split: Split, conditional: bool) -> ModelData:
    """A generator's data: the real training part, in batches of ``gan.batch_size``; an
    unconditional generator learns the minority classes only, a conditional one every class."""
    policy = BatchPolicy(
        cfg.gan.batch_size,
        classes=None if conditional else split.minority,
        class_balanced=cfg.gan.class_balanced_sampling,
    )
    return ModelData(split, TrainingSet.real(split), policy)


def fit(
    cfg: DictConfig,
    out: Path,
    split: Split,
    model: pl.LightningModule,
    selector: Selector,
    timer: Timer,
) -> tuple[pl.Trainer, SelectionCallback, float]:
    """Train ``model`` under its budget, scored and checkpointed by the selection callback
    (resuming from ``last.ckpt`` with ``resume``). Returns the trainer, the callback and the
    seconds earlier attempts of this run took."""
    # an unconditional generator learns the minority classes only; a conditional one every class
    classes = list(range(split.num_classes)) if model.conditional else list(split.minority)
    data = generator_data(cfg, split, model.conditional)
    ckpt_dir = out / "checkpoints"
    select = SelectionCallback(
        selector,
        ckpt_dir,
        cfg.selection.every_n_epochs,
        cfg.selection.num_samples,
        classes,
        seed=cfg.seed,
        every_n_steps=cfg.selection.every_n_steps,
        max_steps=cfg.gan.max_steps,
    )
    # a budget in steps: the callback stops the run; every epoch has at least one step
    max_epochs = cfg.gan.max_epochs if cfg.gan.max_steps is None else cfg.gan.max_steps
    progress = BudgetProgress(
        f"generator {cfg.gan.name}", cfg.gan.max_steps, show=record.SELECTION_SCORE
    )
    trainer = build_trainer(
        cfg.trainer, out, max_epochs, [select], progress=progress, started=timer.start
    )
    selector.to(trainer.strategy.root_device)
    last = ckpt_dir / "last.ckpt"
    resume = cfg.get("resume", False) and last.exists()
    if resume:
        check_checkpoint(last, model)
    trainer.fit(model, datamodule=data, ckpt_path=str(last) if resume else None, weights_only=True)
    return trainer, select, resumed_seconds(trainer)


def write_samples(
    cfg: DictConfig,
    out: Path,
    split: Split,
    model: pl.LightningModule,
    selector: Selector,
    grid_classes: list[int],
) -> tuple[dict[str, float], dict]:
    """Draw the synthetic set from the selected ``model`` (filtered by ``gan.filter``), score it
    against held-out real images (reported only, after the choice), and write ``synthetic.pt``
    and ``samples.png``. Returns the evaluation (with what says whether it can judge the
    generator: :func:`judge_basis`) and the filter's counts."""
    fake, fake_labels, filter_info = draw_synthetic(
        model, selector, list(split.minority), int(cfg.gan.num_synthetic), cfg.seed, cfg.gan.filter
    )
    held_out, held_out_labels = split.minority_split("test")
    evaluation = selector.evaluate(fake, fake_labels, held_out, held_out_labels, seed=cfg.seed)
    evaluation.update(judge_basis(split, selector, cfg.seed))
    images, labels = as_synthetic(fake, fake_labels)
    torch_save(out / "synthetic.pt", {"images": images, "labels": labels})
    grid = sample_grid(model, grid_classes, seed=cfg.seed)
    atomic_write(out / "samples.png", lambda f: save_image(grid, f, format="png"))
    return evaluation, filter_info
