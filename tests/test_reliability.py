"""Failure modes: preemption and resume, divergence, bad input, corrupt files, atomic writes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time

import pytest
import torch

import imbalance_gan.runtime.resilience
import imbalance_gan.runtime.trainer
from imbalance_gan.classifier.pipeline import classify
from imbalance_gan.data.sources import verify_idx_file
from imbalance_gan.generators.gan.module import GANModule
from imbalance_gan.generators.pipeline import train_generator
from imbalance_gan.runtime.errors import EXIT_PREEMPTED, DivergenceError, Preempted, UserError
from imbalance_gan.runtime.files import write_json
from imbalance_gan.runtime.trainer import output_dir, save_config
from imbalance_gan.scenarios.synthetic import load_synthetic

from .conftest import DATA, make_cfg, run_module
from .hooks.step_hooks import installed, subprocess_env

# a checkpoint every 4 of the 6 batches of an epoch: the interval writes one mid-epoch
RESUME_ARGS = [
    "experiment=smoke",
    "trainer.limit_train_batches=6",
    "trainer.checkpoint_every_n_steps=4",
    "seed=1",
]


def _metrics(out):
    return json.loads((out / "metrics.json").read_text())["metrics"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    classify(make_cfg("classify", RESUME_ARGS, out))
    return _metrics(out)


class StepClock:
    """A clock for the run's timers that moves one second per training step and otherwise
    stands still, so that a wall time can be checked exactly instead of within a tolerance."""

    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now

    def __getattr__(self, name: str):
        return getattr(time, name)


@pytest.fixture
def step_clock(monkeypatch):
    """:class:`StepClock` in place of ``time`` for the run's timers (runtime.trainer.Timer and
    the ResumeCallback), ticking at the start of each training step's end, before the
    callback's own work (an interval or preemption checkpoint)."""
    clock = StepClock()
    monkeypatch.setattr(imbalance_gan.runtime.trainer, "time", clock)
    monkeypatch.setattr(imbalance_gan.runtime.resilience, "time", clock)
    cls = imbalance_gan.runtime.resilience.ResumeCallback
    original = cls.on_train_batch_end

    def tick(self, *args) -> None:
        clock.now += 1.0
        original(self, *args)

    monkeypatch.setattr(cls, "on_train_batch_end", tick)
    return clock


def test_sigterm_mid_epoch_then_resume_matches_uninterrupted(uninterrupted, tmp_path, step_clock):
    out = tmp_path / "run"
    with installed(sigterm_at_step=4), pytest.raises(Preempted, match="resume=true"):
        classify(make_cfg("classify", RESUME_ARGS, out))  # a real SIGTERM, in epoch 1 of 2
    assert (out / "checkpoints" / "last.ckpt").exists()
    assert not (out / "metrics.json").exists()
    assert signal.getsignal(signal.SIGTERM) is not None  # handlers restored after the run
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    (first_attempt_s,) = [s["elapsed_s"] for s in ckpt["callbacks"].values() if "elapsed_s" in s]
    assert first_attempt_s == 4.0  # its 4 steps, up to the checkpoint at the 4th
    step_clock.now += 500.0  # between the attempts: counts for neither
    classify(make_cfg("classify", [*RESUME_ARGS, "resume=true"], out))
    assert _metrics(out) == uninterrupted
    # the wall time adds the first attempt's time (up to its checkpoint) to the second's: the
    # 8 steps left of 2 epochs of 6
    assert json.loads((out / "metrics.json").read_text())["wall_time_s"] == 4.0 + 8.0


@pytest.mark.slow  # the same on a real cluster: make test-slurm
def test_requeue_signal_checkpoints_before_the_requeue_handler(uninterrupted, tmp_path):
    """SIGUSR2 with a handler installed (submitit's, in a SLURM job): the run checkpoints at the
    next step first, then calls it (it requeues and exits); the resumed run ends as one never
    interrupted."""
    out = tmp_path / "run"
    found = []

    def submitit_like(signum, frame):  # submitit: `scontrol requeue`, then sys.exit(-1)
        found.append((out / "checkpoints" / "last.ckpt").exists())
        raise SystemExit(-1)

    def signal_when_held() -> None:
        while not (out / "waiting").exists():
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGUSR2)

    previous = signal.signal(signal.SIGUSR2, submitit_like)
    threading.Thread(target=signal_when_held, daemon=True).start()
    try:
        with installed(wait_at_step=4), pytest.raises(SystemExit):  # held in epoch 1 of 2
            classify(make_cfg("classify", RESUME_ARGS, out))
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert found == [True]
    classify(make_cfg("classify", [*RESUME_ARGS, "resume=true"], out))
    assert _metrics(out) == uninterrupted


@pytest.mark.slow
def test_sigterm_subprocess_exits_resumable_and_sigkill_resumes(uninterrupted, tmp_path):
    out = tmp_path / "term"
    proc = run_module(
        "imbalance_gan.classify",
        *RESUME_ARGS,
        f"hydra.run.dir={out}",
        env=subprocess_env(sigterm_at_step=8),
    )
    assert proc.returncode == EXIT_PREEMPTED and "resume=true" in proc.stderr
    proc = run_module("imbalance_gan.classify", *RESUME_ARGS, "resume=true", f"hydra.run.dir={out}")
    assert proc.returncode == 0 and _metrics(out) == uninterrupted
    # SIGKILL: no chance to save; the first interval checkpoint (after batch 4 of epoch 1,
    # written atomically) is the restart point
    out = tmp_path / "kill"
    import subprocess
    import sys

    env = {**os.environ, "IMBALANCE_GAN_DATA": str(DATA)}
    p = subprocess.Popen(
        [sys.executable, "-m", "imbalance_gan.classify", *RESUME_ARGS, f"hydra.run.dir={out}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while not (out / "checkpoints" / "last.ckpt").exists() and time.time() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    # killed mid-run, not after it finished: otherwise the resume below would prove nothing
    assert p.returncode == -signal.SIGKILL and not (out / "metrics.json").exists()
    proc = run_module("imbalance_gan.classify", *RESUME_ARGS, "resume=true", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert _metrics(out) == uninterrupted


@pytest.mark.slow
@pytest.mark.parametrize(
    "budget",
    [
        ["gan=vanilla", "gan.max_epochs=3", "gan.d_warmup_epochs=1", "gan.d_every=3"],
        # a budget in steps, with the EMA generator and DiffAugment's random draws
        ["gan=projgan", "gan.max_steps=16", "selection.every_n_steps=4", "gan.batch_size=16"],
    ],
    ids=["epochs", "steps"],
)
def test_gan_resume_after_sigterm_matches_uninterrupted(budget, tmp_path):
    args = ["experiment=smoke", *budget, "trainer.limit_train_batches=6"]
    ref = train_generator(make_cfg("train", args, tmp_path / "ref"), tmp_path / "ref")
    out = tmp_path / "run"
    with installed(sigterm_at_step=10), pytest.raises(Preempted):
        train_generator(make_cfg("train", args, out), out)
    got = train_generator(make_cfg("train", [*args, "resume=true"], out), out)
    assert got["score_history"] == ref["score_history"]
    assert (out / "synthetic.pt").read_bytes() == (tmp_path / "ref" / "synthetic.pt").read_bytes()


class Killed(Exception):
    """Stands for SIGKILL in-process: the run ends with no chance to save."""


def test_gan_killed_outright_resumes_exactly_from_its_interval_checkpoint(tmp_path, monkeypatch):
    # 4 epochs of 3 batches; last.ckpt every 4 batches (after batches 4 and 8: mid-epoch)
    args = ["experiment=smoke", "gan=vanilla", "gan.max_epochs=4"]
    ref = train_generator(make_cfg("train", args, tmp_path / "ref"), tmp_path / "ref")
    batches = []

    def kill_at_batch_10(self, outputs, batch, batch_idx):
        batches.append(batch_idx)
        if len(batches) == 10:
            raise Killed

    out, every = tmp_path / "run", ["trainer.checkpoint_every_n_steps=4"]
    monkeypatch.setattr(GANModule, "on_train_batch_end", kill_at_batch_10, raising=False)
    with pytest.raises(Killed):
        train_generator(make_cfg("train", [*args, *every], out), out)
    monkeypatch.undo()
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 2  # written after batch 8 (epoch 3's second), not at the kill
    got = train_generator(make_cfg("train", [*args, *every, "resume=true"], out), out)
    assert got["score_history"] == ref["score_history"]
    assert (out / "synthetic.pt").read_bytes() == (tmp_path / "ref" / "synthetic.pt").read_bytes()


def test_diverging_classifier_stops_with_the_loss_and_epoch(tmp_path):
    out = tmp_path / "run"
    cfg = make_cfg("classify", ["experiment=smoke", "classifier.optimizer.lr=1e30"], out)
    with pytest.raises(DivergenceError, match=r"train/loss is nan in epoch 1"):
        classify(cfg)
    assert not (out / "metrics.json").exists()


def test_diverging_gan_stops_and_writes_no_synthetic_data(tmp_path):
    out = tmp_path / "run"
    cfg = make_cfg(
        "train",
        ["experiment=smoke", "gan=vanilla", "gan.optimizer_d.lr=1e30", "gan.optimizer_g.lr=1e30"],
        out,
    )
    with pytest.raises(DivergenceError, match="epoch 1"):
        train_generator(cfg, out)
    assert not (out / "synthetic.pt").exists() and not (out / "metrics.json").exists()


def test_truncated_idx_file_is_refused_with_its_name(tmp_path):
    root = tmp_path / "data"
    shutil.copytree(DATA / "MNIST", root / "MNIST")
    bad = root / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    os.chmod(bad, 0o644)
    bad.write_bytes(bad.read_bytes()[:-10])
    out = tmp_path / "run"
    proc = run_module(
        "imbalance_gan.classify", "experiment=smoke", f"data.root={root}", f"hydra.run.dir={out}"
    )
    assert proc.returncode == 2
    assert "train-labels-idx1-ubyte" in proc.stderr and "truncated" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "metrics.json").exists()


def test_unknown_idx_file_header_is_checked(tmp_path):
    good = tmp_path / "train-images-idx3-ubyte"
    good.write_bytes(
        bytes([0, 0, 8, 3])
        + (2).to_bytes(4, "big")
        + (2).to_bytes(4, "big")
        + (2).to_bytes(4, "big")
        + bytes(8)
    )
    verify_idx_file(good, "KMNIST")
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(good.read_bytes()[:-1])
    with pytest.raises(UserError, match="truncated or corrupt"):
        verify_idx_file(bad, "KMNIST")
    bad.write_bytes(b"PK\x03\x04" + bytes(20))
    with pytest.raises(UserError, match="magic"):
        verify_idx_file(bad, "KMNIST")


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (
            {"images": torch.zeros(4, 1, 28, 28), "labels": torch.zeros(4, dtype=torch.int64)},
            "uint8",
        ),
        (
            {
                "images": torch.zeros(4, 28, 28, dtype=torch.uint8),
                "labels": torch.zeros(4, dtype=torch.int64),
            },
            "shape",
        ),
        (
            {
                "images": torch.zeros(4, 1, 28, 28, dtype=torch.uint8),
                "labels": torch.zeros(3, dtype=torch.int64),
            },
            "labels",
        ),
        (
            {
                "images": torch.zeros(4, 1, 28, 28, dtype=torch.uint8),
                "labels": torch.full((4,), 11),
            },
            "outside",
        ),
        (
            {"images": torch.zeros(4, 1, 28, 28, dtype=torch.uint8), "labels": torch.full((4,), 3)},
            "minority",
        ),
        ("not a dict", "not a readable"),
    ],
)
def test_bad_synthetic_file_is_refused(blob, message, tmp_path):
    path = tmp_path / "synthetic.pt"
    torch.save(blob, path)
    with pytest.raises(UserError, match=message):
        load_synthetic(path, 10, (1, 28, 28), [0])


def test_checkpoint_of_another_architecture_is_refused_before_training(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    torch.save(
        {"state_dict": {"generator.fc.weight": torch.zeros(3, 3)}},
        out / "checkpoints" / "last.ckpt",
    )
    cfg = make_cfg("classify", ["experiment=smoke", "resume=true"], out)
    save_config(cfg, out)  # the same config, so that the resume reaches the checkpoint
    with pytest.raises(UserError, match="does not fit this model"):
        classify(cfg)
    assert not (out / "metrics.json").exists()


def test_unwritable_output_dir_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cfg = make_cfg("classify", ["experiment=smoke"], blocker / "run")
    with pytest.raises(UserError, match="not writable"):
        output_dir(cfg)


def test_a_failed_rerun_leaves_earlier_results_byte_identical(tmp_path):
    out = tmp_path / "run"
    classify(make_cfg("classify", ["experiment=smoke"], out))
    before = {p.name: p.read_bytes() for p in (out / "metrics.json", out / "predictions.npz")}
    proc = run_module(
        "imbalance_gan.classify",
        "experiment=smoke",
        "data.minority_count=0",
        f"hydra.run.dir={out}",
    )
    assert proc.returncode == 2 and "data.minority_count" in proc.stderr
    assert {n: (out / n).read_bytes() for n in before} == before


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_json(path, {"ok": 1})
    original = path.read_bytes()

    class Boom(Exception):
        pass

    def exploding_fsync(fd):
        raise Boom

    monkeypatch.setattr(os, "fsync", exploding_fsync)
    with pytest.raises(Boom):
        write_json(path, {"ok": 2})
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left


def test_study_passes_preemption_through(tmp_path):
    """A study stopped by SIGTERM exits with the resumable status, not as a failed run."""
    out = tmp_path / "out"
    proc = run_module(
        "imbalance_gan.study",
        "experiment=smoke",
        "study.scenarios=[original]",
        "study.seeds=[0]",
        f"hydra.run.dir={out}",
        env=subprocess_env(sigterm_at_step=2),
    )
    assert proc.returncode == EXIT_PREEMPTED
    assert not (out / "runs" / "seed0" / "original" / "failed.json").exists()


def test_output_dir_under_a_file_ends_in_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = run_module("imbalance_gan.classify", "experiment=smoke", f"hydra.run.dir={blocker}/run")
    assert proc.returncode == 2
    assert "output dir" in proc.stderr and "Traceback" not in proc.stderr
