"""``python -m imbalance_gan.classify scenario=<name>``: train and evaluate one scenario."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint

from imbalance_gan.classifier import ClassifierModule
from imbalance_gan.data import ImbalancedDataModule, datamodule_from_config
from imbalance_gan.errors import UserError, report_user_errors
from imbalance_gan.files import read_json, savez, write_json
from imbalance_gan.resilience import check_checkpoint
from imbalance_gan.runtime import Timer, build_trainer, hardware, output_dir, save_config, seed_all
from imbalance_gan.scenarios import Augmentation, inverse_frequency_weights

log = logging.getLogger("imbalance_gan.classify")


def build_training_data(cfg: DictConfig, dm: ImbalancedDataModule) -> dict | None:
    """Add the scenario's extra examples to ``dm``'s training part; return the GAN run's info."""
    gan_info = None
    if cfg.scenario.use_gan:
        from imbalance_gan.synthetic import synthetic_for_scenario

        images, labels, gan_info = synthetic_for_scenario(cfg, dm)
        dm.add_training_data(images, labels)
    if cfg.scenario.augment is not None:
        augment = instantiate(cfg.scenario.augment)
        aug: Augmentation = augment(dm.train_x, dm.train_y, dm.minority, dm.num_classes, cfg.seed)
        dm.add_training_data(aug.images, aug.labels)
    return gan_info


def classify(cfg: DictConfig) -> dict:
    """Train the classifier on one scenario, test the best-validation checkpoint, write results.

    Writes ``config.yaml``, TensorBoard logs, ``checkpoints/``, ``predictions.npz`` and, last,
    ``metrics.json`` into the run's output dir. Returns the metrics.json content.
    """
    timer = Timer()
    out = output_dir(cfg)
    if cfg.resume and (out / "metrics.json").is_file():
        log.info("%s is finished; resume=true keeps its results", out)
        return read_json(out / "metrics.json")
    seed_all(cfg.seed)
    dm = datamodule_from_config(cfg.data, cfg.classifier.batch_size, cfg.classifier.eval_batch_size)
    gan_info = build_training_data(cfg, dm)
    counts = dm.train_counts()
    weights = inverse_frequency_weights(counts["total"]) if cfg.scenario.class_weighting else None
    save_config(cfg, out)
    log.info(
        "scenario %s, seed %d: training class counts %s",
        cfg.scenario.name,
        cfg.seed,
        counts["total"],
    )

    # re-seed so initialization does not depend on how much randomness the scenario drew
    seed_all(cfg.seed)
    model = ClassifierModule(
        net=instantiate(cfg.classifier.net),
        optimizer=instantiate(cfg.classifier.optimizer),
        scheduler=instantiate(cfg.classifier.scheduler) if cfg.classifier.scheduler else None,
        class_weights=weights,
        monitor=cfg.classifier.monitor,
        channels_last=cfg.trainer.channels_last,
    )
    if cfg.trainer.compile:
        model.net = torch.compile(model.net)
    ckpt_dir = out / "checkpoints"
    best = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor=cfg.classifier.monitor,
        mode="max",
        save_last=True,
        enable_version_counter=False,
    )
    trainer = build_trainer(cfg.trainer, out, cfg.classifier.max_epochs, [best])
    resume_from = ckpt_dir / "last.ckpt"
    resume = bool(cfg.resume) and resume_from.exists()
    if resume:
        check_checkpoint(resume_from, model)
    trainer.fit(model, datamodule=dm, ckpt_path=str(resume_from) if resume else None)
    best_path = best.best_model_path or str(resume_from)
    trainer.test(model, datamodule=dm, ckpt_path=best_path, verbose=False)
    best_epoch = int(torch.load(best_path, map_location="cpu", weights_only=False)["epoch"]) + 1

    if not trainer.is_global_zero:  # DDP: every rank tested the same set; rank 0 writes
        return {"metrics": model.test_metrics}
    savez(
        out / "predictions.npz",
        y_true=model.test_targets.numpy().astype(np.int64),
        y_prob=model.test_probs.numpy().astype(np.float32),
    )
    result = {
        "kind": "classify",
        "scenario": cfg.scenario.name,
        "seed": int(cfg.seed),
        "profile": cfg.get("profile"),
        "dataset": cfg.data.dataset,
        "epochs": int(cfg.classifier.max_epochs),
        "best_epoch": best_epoch,
        "train_counts": counts,
        "val_counts": np.bincount(dm.val_y.numpy(), minlength=dm.num_classes).tolist(),
        "minority_classes": dm.minority,
        "class_weights": weights,
        "gan_run": gan_info,
        "device": str(trainer.strategy.root_device),
        "hardware": hardware(),
        "wall_time_s": round(timer.elapsed, 2),
        "metrics": model.test_metrics,
    }
    write_json(out / "metrics.json", result)  # last: its presence marks a finished run
    m = model.test_metrics
    log.info(
        "test accuracy %.4f, f1_macro %.4f, class-0 precision %.4f recall %.4f f1 %.4f (%.0fs)",
        m["test/accuracy"],
        m["test/f1_macro"],
        m["test/precision"][0],
        m["test/recall"][0],
        m["test/f1"][0],
        timer.elapsed,
    )
    return result


def record_failure(cfg: DictConfig, err: Exception) -> str:
    """Leave ``failed.json`` (one line) and ``error.log`` (the traceback) in the run's dir, so a
    study or a sweep's report shows the run as failed; returns the one line."""
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "error.log").write_text(traceback.format_exc())
    message = f"{type(err).__name__}: {err}".splitlines()[0]
    failure = {
        "kind": "classify",
        "scenario": cfg.scenario.name,
        "seed": int(cfg.seed),
        "error": message,
    }
    write_json(out / "failed.json", failure)
    log.error(
        "%s seed %d failed: %s (traceback in %s)",
        cfg.scenario.name,
        cfg.seed,
        message,
        out / "error.log",
    )
    return message


@hydra.main(version_base="1.3", config_path="../conf", config_name="classify")
@report_user_errors
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns test macro-F1 for sweepers. A run that fails (other than by a
    config error) leaves ``failed.json`` for the report."""
    try:
        return classify(cfg)["metrics"]["test/f1_macro"]
    except UserError:
        raise
    except Exception as err:
        record_failure(cfg, err)
        raise


if __name__ == "__main__":
    main()
