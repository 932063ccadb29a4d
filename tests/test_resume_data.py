"""``resume=true`` continues or keeps only a run on the same images: where a folder is may
change (a study moved to another machine), which images it holds may not. A finished and an
interrupted image-folder run, resumed with another folder of the same layout, are refused in
one line with nothing changed; the same folder is accepted."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from imbalance_gan.data import build_data
from imbalance_gan.record.rundir import DATA_FILE, check_run_dir
from imbalance_gan.runtime.errors import UserError

from .conftest import assert_one_error_line, make_cfg, run_module
from .test_image_folder import digits, write_folder  # noqa: F401 - digits is a fixture


def _files(root: Path) -> dict[str, str]:
    """Every file of a run dir and its hash, Hydra's record of the latest invocation aside."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".hydra" not in p.parts and not p.name.endswith(".log")
    }


@pytest.fixture(scope="module")
def folders(digits, tmp_path_factory):  # noqa: F811
    """Two folders with the same class names, counts and file names; ``b``'s training images
    are ``a``'s mirrored."""
    (x, y), test = digits
    root = tmp_path_factory.mktemp("folders")
    a = write_folder(root / "a", {"train": (x, y), "test": test})
    b = write_folder(root / "b", {"train": (x.flip(-1), y), "test": test})
    return a, b


def _overrides(folder: Path, tmp_path: Path) -> list[str]:
    return [
        "data=folder",
        f"data.path={folder}",
        "data.minority_classes=[0]",
        "data.minority_count=30",
        "experiment=smoke",
        f"paths.artifact_dir={tmp_path / 'artifacts'}",
    ]


def _resume(folder: Path, run: Path, tmp_path: Path):
    """``classify ... resume=true`` on ``folder`` into the run dir ``run``."""
    return run_module(
        "imbalance_gan.classify",
        *_overrides(folder, tmp_path),
        "resume=true",
        f"hydra.run.dir={run}",
    )


@pytest.fixture(scope="module")
def finished(folders, tmp_path_factory):
    base = tmp_path_factory.mktemp("finished")
    out = base / "run"
    proc = run_module(
        "imbalance_gan.classify", *_overrides(folders[0], base), f"hydra.run.dir={out}"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / DATA_FILE).is_file()
    return out


def test_a_finished_run_resumed_with_another_folder_is_refused(folders, finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    before = _files(run)
    proc = _resume(folders[1], run, tmp_path)
    assert_one_error_line(proc, "holds a run on other images", "data files is")
    assert _files(run) == before
    same = _resume(folders[0], run, tmp_path)
    assert same.returncode == 0, same.stderr[-3000:]
    assert _files(run) == before  # kept as it was


def test_an_interrupted_run_resumed_with_another_folder_is_refused(folders, finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "metrics.json").unlink()  # as a run killed before it finished leaves it
    before = _files(run)
    proc = _resume(folders[1], run, tmp_path)
    assert_one_error_line(proc, "holds a run on other images")
    assert _files(run) == before
    for folder, accepted in ((folders[0], True), (folders[1], False)):
        cfg = make_cfg("classify", [*_overrides(folder, tmp_path), "resume=true"], run)
        data = build_data(cfg.data).identity()
        if accepted:  # continued: the same config and images
            assert check_run_dir(run, cfg, finished=False, resume=True, data=data) is False
        else:
            with pytest.raises(UserError, match="other images"):
                check_run_dir(run, cfg, finished=False, resume=True, data=data)


def test_a_record_without_metrics_is_not_kept_by_resume(folders, finished, tmp_path):
    """A finished run's record is kept by resume=true only when it is a whole run record."""
    import json

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    record = json.loads((run / "metrics.json").read_text())
    del record["metrics"]
    (run / "metrics.json").write_text(json.dumps(record))
    before = _files(run)
    proc = _resume(folders[0], run, tmp_path)
    assert_one_error_line(proc, "no complete run record", "nothing was changed")
    assert _files(run) == before


@pytest.mark.parametrize("name", ["metrics.json", DATA_FILE])
def test_a_record_nested_too_deeply_is_not_kept_by_resume(name, folders, finished, tmp_path):
    """The record and the data identity are read within limits (a RecursionError before)."""
    from imbalance_gan.record.rundir import start_run

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / name).write_text("[" * 100_000 + "]" * 100_000)
    before = _files(run)
    cfg = make_cfg("classify", [*_overrides(folders[0], tmp_path), "resume=true"], run)
    data = build_data(cfg.data).identity()
    with pytest.raises(UserError, match="cannot read .*nothing was changed"):
        start_run(run, cfg, data)
    assert _files(run) == before


def test_the_same_images_copied_elsewhere_resume(folders, finished, tmp_path):
    """Where the folder is and when its files were written is no part of the data: a copy with
    new modification times (cp -r, a checkout) resumes the run."""
    import os
    import time

    moved = tmp_path / "moved"
    shutil.copytree(folders[0], moved, copy_function=shutil.copy)
    later = time.time() + 1000
    for p in moved.rglob("*.png"):
        os.utime(p, (later, later))
    cfg = make_cfg("classify", [*_overrides(moved, tmp_path), "resume=true"], finished)
    data = build_data(cfg.data).identity()
    assert check_run_dir(finished, cfg, finished=True, resume=True, data=data) is True
