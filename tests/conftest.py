"""Shared fixtures: the real MNIST from ../shared/data and the project's real Hydra config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
os.environ.setdefault("IMBALANCE_GAN_DATA", str(ROOT.parent / "shared" / "data"))
DATA = Path(os.environ["IMBALANCE_GAN_DATA"]).resolve()


def benchmark_module(name: str):
    """``benchmarks/<name>.py`` imported as a module (the folder is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_cfg(config_name: str, overrides: list[str], out: Path) -> DictConfig:
    """Compose the real config with ``overrides``, writing into ``out``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.paths.artifact_dir = str(out.parent / "artifacts")
    return cfg


def bare_trainer(root: Path, max_epochs: int) -> pl.Trainer:
    """A Lightning Trainer with nothing around the loop: no logger, checkpoints, bar or summary."""
    return pl.Trainer(
        max_epochs=max_epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
    )


def run_module(
    module: str, *args: str, cwd: Path | None = None, timeout: int = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m <module> args...`` and capture its output."""
    full_env = {**os.environ, "IMBALANCE_GAN_DATA": str(DATA), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def mnist_split_of(**kwargs):
    """The imbalanced MNIST split of the default data settings, with ``kwargs`` changed."""
    from imbalance_gan.data import ImbalancedData, build_split

    return build_split(ImbalancedData(**{"root": str(DATA), "seed": 0, **kwargs}))


@pytest.fixture(scope="session")
def mnist_split():
    """The default imbalanced MNIST split, loaded once per test session."""
    return mnist_split_of()


def run_processes(procs: list, timeout_s: float = 120) -> list[int | None]:
    """Start ``procs`` (``multiprocessing`` processes), wait for each at most ``timeout_s``,
    kill the ones still alive; their exit codes."""
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout_s)
    for p in procs:
        if p.is_alive():
            p.kill()
    return [p.exitcode for p in procs]


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """The ``error:`` lines a command wrote to stderr (Lightning's own notices aside)."""
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]


def assert_one_error_line(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """The command stopped on a user error: exit 2, one ``error:`` line holding ``fragments``,
    no traceback; returns the line."""
    lines = error_lines(proc)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
