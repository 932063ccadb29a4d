"""One classify run: build the scenario's training data, train, test the best checkpoint, and
write the run record. Used by the ``classify`` and ``study`` commands."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint

from imbalance_gan import record
from imbalance_gan.classifier.metrics import half_metrics
from imbalance_gan.classifier.module import ClassifierModule
from imbalance_gan.classifier.retrain import Retrain
from imbalance_gan.classifier.rules import check_classify_config
from imbalance_gan.classifier.tensorboard import log_test_views
from imbalance_gan.data import BatchPolicy, ModelData, Split, split_from_config
from imbalance_gan.record.rundir import start_run
from imbalance_gan.runtime.costs import batches, classifier_seconds, epochs_with_floor, minutes
from imbalance_gan.runtime.costs import trained_batches as limited_batches
from imbalance_gan.runtime.files import savez
from imbalance_gan.runtime.progress import BudgetProgress
from imbalance_gan.runtime.resilience import check_checkpoint, resumed_seconds
from imbalance_gan.runtime.trainer import (
    Timer,
    build_trainer,
    hardware,
    output_dir,
    save_config,
    seed_all,
)
from imbalance_gan.scenarios import ScenarioData, build_training_data, inverse_frequency_weights
from imbalance_gan.scenarios.signature import probe_arguments, signature_auc

log = logging.getLogger("imbalance_gan.classify")


@dataclass
class Built:
    """What a classify run trains: the scenario's data and the model's view of it, the model,
    and what the run record says about them."""

    scenario: ScenarioData
    data: ModelData
    model: ClassifierModule
    counts: dict[str, list[int]]
    weights: list[float] | None
    signature: float | None
    epochs: int


def classify(cfg: DictConfig) -> dict:
    """Train the classifier on one scenario, test the best-validation checkpoint, write results.

    Writes ``config.yaml``, TensorBoard logs, ``checkpoints/``, ``predictions.npz`` and, last,
    ``metrics.json`` into the run's output dir. Returns the run record.
    """
    timer = Timer()
    out = output_dir(cfg)
    check_classify_config(cfg)
    split = split_from_config(cfg.data)
    if warning := split.rare_class_warning():
        log.warning(warning)
    kept = start_run(out, cfg, split.identity())  # resume: the same config and the same images
    if kept is not None:
        log.info("%s is finished; resume=true keeps its results", out)
        return kept
    built = build(cfg, out, split)
    trainer, best_path, earlier_attempts_s = fit(cfg, built, out, timer)
    best_epoch = evaluate(trainer, built, best_path)
    if not trainer.is_global_zero:  # DDP: every rank tested the same set; rank 0 writes
        return {"metrics": built.model.test_metrics}
    wall_time_s = round(timer.elapsed + earlier_attempts_s, 2)
    run = write_results(cfg, out, trainer, built, best_epoch, wall_time_s)
    _log_result(built, timer.elapsed)
    return run


def build(cfg: DictConfig, out: Path, split: Split | None = None) -> Built:
    """The scenario's training data (and the signature probe on it), then the model and its
    data; ``split``: the split of ``cfg.data``, already loaded (its draws use their own seeds)."""
    seed_all(cfg.seed)
    split = split or split_from_config(cfg.data)
    scenario = build_training_data(cfg, split)
    training = scenario.training
    c = cfg.classifier
    epochs = classifier_epochs(c, len(training.labels))
    retrain = instantiate(c.retrain) if c.get("retrain") else None
    sampler = instantiate(c.sampler)
    if retrain is not None:  # cRT: class-balanced batches for the head's retraining
        sampler = retrain.sampler(sampler, epochs)
    data = ModelData(split, training, BatchPolicy(c.batch_size, c.eval_batch_size, sampler=sampler))
    counts = training.counts()
    added = training.added_images(split.minority)
    # can a small CNN tell the added minority images from the real ones? (scenarios/signature.py)
    signature = (
        signature_auc(
            split.minority_images("train"),
            added,
            cfg.seed,
            **probe_arguments(cfg.probe),
        )
        if len(added)
        else None
    )
    weights = inverse_frequency_weights(counts["total"]) if cfg.scenario.class_weighting else None
    save_config(cfg, out)
    per_epoch = batches(len(training.labels), c.batch_size)
    expected = ""
    if cfg.trainer.get("accelerator") == "cpu":  # say what a long run costs before it starts
        seconds = classifier_seconds(epochs * trained_batches(cfg, per_epoch), split.image_shape)
        expected = f", {minutes(seconds)} on a 2-core CPU like this project's"
    log.info(
        "scenario %s, seed %d: training class counts %s, %d epoch(s) of %d optimiser steps%s",
        cfg.scenario.name,
        cfg.seed,
        counts["total"],
        epochs,
        per_epoch,
        expected,
    )
    # re-seed so initialization does not depend on how much randomness the scenario drew
    seed_all(cfg.seed)
    model = build_model(cfg, counts["total"], weights, retrain)
    return Built(scenario, data, model, counts, weights, signature, epochs)


def trained_batches(cfg: DictConfig, per_epoch: int) -> int:
    """The batches an epoch trains under ``trainer.limit_train_batches`` (a count or a share)."""
    return limited_batches(per_epoch, cfg.trainer.get("limit_train_batches"))


def classifier_epochs(c: DictConfig, n_train: int) -> int:
    """The epochs a classifier trains: ``classifier.max_epochs``, or more when
    ``classifier.min_steps`` needs more epochs of ``n_train`` images to reach its optimiser
    steps (a budget that follows the data: the quick profile's steps on MNIST, on any data)."""
    # min_steps checked: classifier/rules.py
    return epochs_with_floor(c.max_epochs, c.get("min_steps"), c.batch_size, n_train)


def build_model(
    cfg: DictConfig,
    counts: list[int],
    weights: list[float] | None,
    retrain: Retrain | None = None,
) -> ClassifierModule:
    """The classifier with its loss, batch augmentation, logit adjustment and retraining."""
    c = cfg.classifier
    model = ClassifierModule(
        net=instantiate(c.net),
        optimizer=instantiate(c.optimizer),
        scheduler=instantiate(c.scheduler) if c.scheduler else None,
        loss=instantiate(c.loss, class_counts=counts, class_weights=weights),
        monitor=c.monitor,
        channels_last=cfg.trainer.channels_last,
        augment=instantiate(c.augment) if c.augment is not None else None,
        logit_adjustment=instantiate(c.logit_adjustment, class_counts=counts),
        retrain=retrain,
        seed=cfg.seed,
    )
    if cfg.trainer.compile:
        model.net = torch.compile(model.net)
    return model


def fit(cfg: DictConfig, built: Built, out: Path, timer: Timer) -> tuple[pl.Trainer, str, float]:
    """Train (from ``checkpoints/last.ckpt`` under ``resume``); returns the trainer, the best
    checkpoint's path and the seconds that earlier attempts of a resumed run took."""
    ckpt_dir = out / "checkpoints"
    best = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor=built.model.checkpoint_monitor,
        mode="max",
        save_last=True,
        enable_version_counter=False,
    )
    progress = BudgetProgress(f"classify {cfg.scenario.name}", show=cfg.classifier.monitor)
    trainer = build_trainer(
        cfg.trainer, out, built.epochs, [best], progress=progress, started=timer.start
    )
    resume_from = ckpt_dir / "last.ckpt"
    resume = bool(cfg.resume) and resume_from.exists()
    if resume:
        check_checkpoint(resume_from, built.model)
    trainer.fit(
        built.model,
        datamodule=built.data,
        ckpt_path=str(resume_from) if resume else None,
        weights_only=True,
    )
    # read now: testing and validating a checkpoint below restore its callback state again
    earlier_attempts_s = resumed_seconds(trainer)
    return trainer, best.best_model_path or str(resume_from), earlier_attempts_s


def evaluate(trainer: pl.Trainer, built: Built, best_path: str) -> int:
    """Test the best checkpoint and take its validation metrics; returns its 1-based epoch."""
    model, data = built.model, built.data
    trainer.test(model, datamodule=data, ckpt_path=best_path, verbose=False, weights_only=True)
    best_epoch = int(torch.load(best_path, map_location="cpu", weights_only=True)["epoch"]) + 1
    # the chosen checkpoint's validation metrics: what a report may use to choose between
    # scenarios (the best classic fix), so that no choice is made on the test set; the fit
    # validated those very weights, unless the epoch came before a resume
    if best_epoch in model.val_history:
        model.val_metrics = model.val_history[best_epoch]
    else:
        trainer.validate(
            model, datamodule=data, ckpt_path=best_path, verbose=False, weights_only=True
        )
    return best_epoch


def write_results(
    cfg: DictConfig, out: Path, trainer: pl.Trainer, built: Built, best_epoch: int, wall: float
) -> dict:
    """TensorBoard views, ``predictions.npz`` and, last, the run record; returns the record."""
    model, split = built.model, built.data.split
    log_test_views(trainer.loggers, cfg, model.test_probs, model.test_targets, model.test_metrics)
    savez(
        out / "predictions.npz",
        y_true=model.test_targets.numpy().astype(np.int64),
        y_prob=model.test_probs.numpy().astype(np.float32),
    )
    run = record.classify_record(
        cfg,
        best_epoch=best_epoch,
        train_counts=built.counts,
        val_counts=np.bincount(split.val_y.numpy(), minlength=split.num_classes).tolist(),
        minority=list(split.minority),
        class_names=split.class_names,
        epochs=built.epochs,
        class_weights=built.weights,
        gan_run=built.scenario.generator_run,
        signature_auc=built.signature,
        synthetic_weight=built.scenario.training.synthetic_weight,
        chosen_tau=model.logit_adjustment.chosen_tau(),
        device=str(trainer.strategy.root_device),
        hardware=hardware(),
        wall_time_s=wall,
        # and on each half of the test set: a report chooses on one, measures on the other
        metrics={**model.test_metrics, **half_metrics(model.test_probs, model.test_targets)},
        val_metrics=model.val_metrics,
    )
    record.write(out, run)  # last: its presence marks a finished run
    return run


def _log_result(built: Built, elapsed: float) -> None:
    m = built.model.test_metrics
    split = built.data.split
    per_class = ", ".join(
        f"class {split.class_label(k)} precision {m['test/precision'][k]:.4f} recall {m['test/recall'][k]:.4f} "
        f"f1 {m['test/f1'][k]:.4f}"
        for k in split.minority
    )
    log.info(
        "test accuracy %.4f, f1_macro %.4f%s (%.0fs)",
        m["test/accuracy"],
        m["test/f1_macro"],
        f", {per_class}" if per_class else "",
        elapsed,
    )


def record_failure(cfg: DictConfig, err: BaseException) -> str:
    """Leave ``failed.json`` and ``error.log`` in the run's dir and log it; returns the one line.
    Never raises: a failure that cannot be recorded (a config too broken to name its dir, an
    unwritable dir) is logged, and the original error goes on."""
    fallback = f"{type(err).__name__}: {err}".splitlines()[0] if str(err) else type(err).__name__
    try:
        out = str(cfg.paths.output_dir)
        places = {
            str(Path(out).resolve()): "<run dir>",
            str(Path(str(cfg.paths.artifact_dir)).resolve()): "<paths.artifact_dir>",
            str(Path(str(cfg.data.root)).resolve()): "<data.root>",
        }
        scenario, seed = str(cfg.scenario.name), cfg.get("seed")
        message = record.write_failure(out, "classify", scenario, seed, err, places)
    except Exception as record_err:  # the recorder must not hide the error it records
        log.error("the failure %s could not be recorded: %s", fallback, record_err)
        return fallback
    log.error(
        "%s seed %s failed: %s (traceback in %s/%s)", scenario, seed, message, out, record.ERROR_LOG
    )
    return message


def run_one(run_cfg: DictConfig, resume: bool) -> bool:
    """One classify run into its dir; True when it finished. Failures leave ``failed.json``."""
    out = Path(run_cfg.paths.output_dir)
    if record.is_finished(out):
        return True
    (out / record.FAILURE_FILE).unlink(missing_ok=True)
    if out.exists() and not resume:
        shutil.rmtree(out)  # an unfinished run without resume: start it clean
    try:
        classify(run_cfg)
        return True
    except Exception as err:
        record_failure(run_cfg, err)
        return False
