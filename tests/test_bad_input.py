"""Every bad input a user can type ends the same way: one ``error:`` line, exit 2, no traceback,
and a finished run already in the output dir is left byte-identical.

Each case runs the real command (``python -m imbalance_gan.<command>``, as a forked child of one
process that imported the commands once: ``tests/forkrun.py``) with its output dir
(``hydra.run.dir``) pointed at a copy of one finished ``experiment=smoke`` classify run. The
cases run two at a time, once per session; each test then checks its own case. Hydra's record
of the latest invocation (``.hydra/``, ``<command>.log``) is not part of the run and is left
out of the comparison."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from .conftest import DATA, ROOT, assert_one_error_line
from .test_cifar import write_cifar10
from .test_image_folder import grey_folder, write_hostile_folders


@dataclass(frozen=True)
class Case:
    command: str
    args: tuple[str, ...]
    message: str  # a fragment of the one error line
    in_study: bool = False  # the finished run sits at <place>/runs/seed0/original, as in a study
    drop: str | None = None  # a file of the finished run removed before the case runs


#: ``{file}``: a plain file (a folder cannot be made under it); ``{missing}``: no such folder;
#: ``{place}``: the case's output dir, which holds a finished classify run; ``{hostile}``: data
#: made to break its reader (:func:`write_hostile`)
CASES = [
    # values of the wrong type, or impossible ones
    Case("classify", ("data.minority_count=abc",), "data.minority_count must be a number"),
    Case("classify", ("classifier.max_epochs=abc",), "classifier.max_epochs must be a number"),
    Case("classify", ("seed=abc",), "seed must be a number"),
    Case("classify", ("data.class_counts=[a,b,c,d,e,f,g,h,i,j]",), "must be whole numbers"),
    Case("classify", ("classifier.max_epochs=[1,2]",), "must be a number"),
    Case("classify", ("data.minority_count=0",), "data.minority_count=0 is impossible"),
    Case("classify", ("data.minority_count=6000",), "data.minority_count=6000 is impossible"),
    Case("classify", ("data.minority_classes=[0,0]",), "repeats a class"),
    Case("classify", ("data.minority_classes=[]",), "names no rare class"),
    Case("classify", ("data.minority_classes=[12]",), "classes are 0..9"),
    Case("classify", ("data.val_fraction=1.5",), "strictly between 0 and 1"),
    # names and keys Hydra cannot compose, and keys nobody reads
    Case("classify", ("scenario=nope",), "Could not find 'scenario/nope'; available: "),
    Case("classify", ("gan=nope",), "Could not find 'gan/nope'"),
    Case("classify", ("data=nope",), "Could not find 'data/nope'"),
    Case("classify", ("data.minority_cout=30",), "unknown key data.minority_cout"),
    Case("classify", ("+data.minority_cout=30",), "adds a key that no config reads"),
    # a scenario key's type is its schema's (runtime/schemas.py), its meaning the rules'
    Case("classify", ("scenario.use_generator=maybe",), "'maybe' is not a valid bool"),
    Case("classify", ("scenario.family=bogus",), "scenario.family='bogus' is not one of"),
    Case("classify", ("++classifier.lr_typo=1",), "adds a key that no config reads"),
    Case("classify", ("classifier.augment=affine",), "write classifier/augment=<name>"),
    Case("classify", ("scenario=",), "scenario"),
    # files and folders
    Case("classify", ("data.root={missing}",), "not found"),
    Case("classify", ("data=folder",), "data.path is required and not set"),
    Case("classify", ("data=folder", "data.path={place}/no_such"), "is not a folder"),
    Case("classify", ("seed=${{nope}}",), "Interpolation key 'nope' not found"),
    Case("classify", ("paths.artifact_dir={file}/art",), "paths.artifact_dir"),
    # hostile data: refused by name before any image is decoded or array inflated
    Case("classify", ("data=folder", "data.path={hostile}/truncated"), "9.png cannot be decoded"),
    Case("classify", ("data=folder", "data.path={hostile}/huge"), "9.png is refused from its head"),
    Case("classify", ("data=folder", "data.path={hostile}/dangling"), "9.png is a link to nothing"),
    Case(
        "classify",
        ("data=folder", "data.path={hostile}/no_test_class"),
        "the test split of folder holds no image of class 0 (`a`)",
    ),
    Case(
        "classify",
        ("data=arrays", "data.root={hostile}/zeros", "data.source.memory_limit_gb=0.01"),
        "more than data.source.memory_limit_gb=0.01",
    ),
    Case(
        "classify",
        ("data=arrays", "data.root={hostile}/uint64"),
        "label 18446744073709551615 is not a class of data.num_classes=10",
    ),
    Case(
        "classify",
        ("data=cifar10", "data.root={hostile}/cifar", "data.source.verify=false"),
        "test_batch: `labels`: label -1 is negative",
    ),
    # the finished run in the output dir
    Case("classify", (), "already holds a finished run"),
    Case("classify", ("resume=true", "scenario=oversample"), "scenario.name is 'original' there"),
    Case("classify", ("resume=true", "seed=1"), "seed is 0 there, 1 now"),
    Case("classify", ("resume=true", "scenario=oversample"), "no config.yaml", drop="config.yaml"),
    Case(
        "classify",
        ("resume=true", "classifier.max_epochs=3"),
        "classifier.max_epochs is 2 there, 3 now",
    ),
    Case("train", ("gan=projgan", "resume=true"), "holds another run"),
    Case("train", ("gan=nope",), "Could not find 'gan/nope'"),
    Case("train", ("gan=projgan", "paths.artifact_dir={file}/art"), "paths.artifact_dir"),
    Case("train", ("gan=projgan", "gan.max_epochs=abc"), "gan.max_epochs must be a number"),
    Case("generate", ("n=ten",), "n must be a number"),
    Case("generate", ("n=0",), "n=0"),
    Case("generate", ("run={missing}",), "holds no checkpoints/best.ckpt"),
    Case("study", ("study.scenarios=[original,nope]",), "cannot compose scenario=nope"),
    Case("study", ("study.seeds=[0,0]",), "must not repeat a value"),
    Case("study", ("study.seeds=[]",), "at least one value"),
    Case("study", ("study.jobs=0",), "study.jobs=0"),
    Case("study", ("study.seeds=abc",), "must be"),
    Case("study", ("study.fixes=[none,nope]",), "nope is not a fix of study.fix_overrides"),
    # one planned run breaks a rule: refused before the first run starts
    Case(
        "study",
        ("study.scenarios=[projgan,original]", "scenario.synthetic_weight=0.5"),
        "scenario=original adds none",
    ),
    Case("study", ("study.baseline=bogus",), "study.baseline=bogus is not one of"),
    Case("study", ("study.best_classic=bogus",), "study.best_classic=bogus is not one of"),
    Case("study", ("study.best_classic=dcgan",), "not a classic scenario"),
    Case(
        "study",
        ("study.scenarios=[original]", "study.seeds=[0]", "classifier.max_epochs=3"),
        "classifier.max_epochs is 2 there, 3 now",
        in_study=True,
    ),
]


def _ids(case: Case) -> str:
    return f"{case.command}:{' '.join(case.args) or '(rerun)'}"


def snapshot(place: Path) -> dict[str, str]:
    """sha256 of every file of the run (Hydra's own records left out)."""
    return {
        str(p.relative_to(place)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(place.rglob("*"))
        if p.is_file() and ".hydra" not in p.parts and p.suffix != ".log"
    }


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    place = tmp_path_factory.mktemp("finished") / "run"
    proc = _run("classify", ("experiment=smoke", f"hydra.run.dir={place}"), place.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return place


def _run(command: str, args: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "IMBALANCE_GAN_DATA": str(DATA), "PYTHONPATH": str(ROOT)}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", f"imbalance_gan.{command}", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def write_hostile(root: Path) -> Path:
    """Data that breaks a careless reader: image folders with a truncated PNG, a 50,000 x 50,000
    header, a dangling link, or a test split without class 0; an .npz pair whose 20 MB of
    zeros compress to a few dozen KB; one with a uint64 label of 2**64 - 1; a CIFAR-10
    folder whose test batch has a label of -1."""
    write_hostile_folders(root)
    grey_folder(root / "no_test_class" / "train", names=("a", "b", "c"))
    grey_folder(root / "no_test_class" / "test", names=("b", "c"))
    good = {"images": np.zeros((20, 8, 8), np.uint8), "labels": np.arange(20) % 10}
    for name, train in (
        ("zeros", {"images": np.zeros((5000, 64, 64), np.uint8), "labels": np.zeros(5000, int)}),
        ("uint64", {**good, "labels": np.full(20, 2**64 - 1, np.uint64)}),
    ):
        (root / name).mkdir()
        np.savez_compressed(root / name / "train.npz", **train)
        np.savez_compressed(root / name / "test.npz", **good)
    cifar = write_cifar10(root / "cifar", per_class=10, test_per_class=2)
    test_batch = cifar / "cifar-10-batches-py" / "test_batch"
    batch = pickle.loads(test_batch.read_bytes())
    batch[b"labels"][-1] = -1
    test_batch.write_bytes(pickle.dumps(batch))
    return root


def _run_many(
    jobs: list[tuple[str, tuple[str, ...]]], cwd: Path
) -> list[subprocess.CompletedProcess]:
    """``python -m imbalance_gan.<command> args`` for each job, two at a time, as forked
    children of one process that imported the commands once (``tests/forkrun.py``: each child
    still runs the command as ``__main__`` with its own argv, environment and exit code)."""
    env = {**os.environ, "IMBALANCE_GAN_DATA": str(DATA), "PYTHONPATH": str(ROOT)}
    env.pop("HYDRA_FULL_ERROR", None)
    spec = [
        {
            "module": f"imbalance_gan.{command}",
            "args": list(args),
            "cwd": str(cwd),
            "env": env,
            "stdout": str(cwd / f"job{k}.out"),
            "stderr": str(cwd / f"job{k}.err"),
        }
        for k, (command, args) in enumerate(jobs)
    ]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "forkrun.py"), "--jobs", "2"],
        input=json.dumps(spec),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    codes = json.loads(proc.stdout.strip().splitlines()[-1])
    return [
        subprocess.CompletedProcess(
            [sys.executable, "-m", job["module"], *job["args"]],
            code,
            Path(job["stdout"]).read_text(),
            Path(job["stderr"]).read_text(),
        )
        for job, code in zip(spec, codes, strict=True)
    ]


@pytest.fixture(scope="session")
def outcomes(finished_run, tmp_path_factory):
    """Each case's (process, output dir, snapshot before)."""
    root = tmp_path_factory.mktemp("cases")
    (root / "file").write_text("a file, not a folder\n")
    hostile = write_hostile(root / "hostile")

    def prepare(k: int, case: Case):
        place = root / f"case{k}"
        shutil.copytree(
            finished_run, place / "runs" / "seed0" / "original" if case.in_study else place
        )
        if case.drop:
            (place / case.drop).unlink()
        before = snapshot(place)
        fill = {
            "file": root / "file",
            "missing": root / "missing",
            "place": place,
            "hostile": hostile,
        }
        args = tuple(a.format(**fill) for a in case.args)
        base = ("experiment=smoke", f"paths.artifact_dir={root / 'artifacts'}")
        if any(a.startswith("paths.artifact_dir=") for a in args):
            base = base[:1]
        return (case.command, (*base, *args, f"hydra.run.dir={place}")), place, before

    prepared = [prepare(k, case) for k, case in enumerate(CASES)]
    procs = _run_many([job for job, _, _ in prepared], root)
    done = [(proc, place, before) for proc, (_, place, before) in zip(procs, prepared, strict=True)]
    return dict(zip(CASES, done, strict=True))


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_bad_input_ends_in_one_line_and_changes_nothing(case, outcomes):
    proc, place, before = outcomes[case]
    assert_one_error_line(proc, case.message)
    assert snapshot(place) == before
