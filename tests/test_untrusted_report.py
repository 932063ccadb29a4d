"""The report on a stranger's folder: links, FIFOs, devices, huge or deeply nested records, sweeps
that plan too many runs and fields of the wrong type end in a failure row or one error line,
within bounded memory, and no file outside the folder reaches the report."""

from __future__ import annotations

import base64
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from imbalance_gan import record
from imbalance_gan.reporting.build import write_report
from imbalance_gan.reporting.collect import collect_runs, read_study, read_sweep_plan
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.files import read_json
from imbalance_gan.scenarios.synthetic import copy_sample_grid

from .conftest import DATA, ROOT, assert_one_error_line
from .test_report import PNG, _metrics_json, _multirun_yaml, make_multirun, make_study

SECRET = b"TOPSECRET-not-for-the-report"
#: the address space a report CLI gets in these tests: what torch's import maps, and room to
#: spare; a reader that expands an unbounded input fails within it instead of taking the machine
MEMORY_LIMIT = 6 * 2**30


def _report(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """``python -m imbalance_gan.report args...`` under MEMORY_LIMIT."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(
        [sys.executable, "-m", "imbalance_gan.report", *args],
        cwd=ROOT,
        env={**os.environ, "IMBALANCE_GAN_DATA": str(DATA)},
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit,
    )


def _sparse(path: Path, size: int, head: bytes = b"") -> None:
    """A file of ``size`` bytes that takes no disk: ``head``, then a hole."""
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)


# --- the GAN's sample grid ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["link", "not_png", "huge", "folder"])
def test_a_sample_grid_that_is_not_a_small_png_of_the_run_is_left_out(
    tmp_path: Path, kind: str
) -> None:
    root, out = make_study(tmp_path / "study"), tmp_path / "out"
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG + SECRET)  # a PNG, so only the link gives it away
    grid = root / "runs" / "seed0" / "dcgan" / "gan_samples.png"
    grid.unlink()
    if kind == "link":
        grid.symlink_to(secret)
    elif kind == "not_png":
        grid.write_bytes(SECRET)
    elif kind == "huge":
        _sparse(grid, 64 * 2**20, PNG + SECRET)
    else:
        grid.mkdir()
    text = write_report(root, out).read_text()
    assert not (out / "figures" / "samples_dcgan.png").exists()
    why = {
        "link": "symbolic link",
        "not_png": "not a PNG",
        "huge": "more than",
        "folder": "not a regular file",
    }[kind]
    (note,) = [ln for ln in text.splitlines() if "not shown" in ln]
    assert "Samples from the dcgan generator" in note and why in note
    assert "runs/seed0/dcgan/gan_samples.png" in note and str(tmp_path) not in note
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET not in data and base64.b64encode(PNG + SECRET)[:24] not in data


def test_a_small_png_sample_grid_is_still_copied(tmp_path: Path) -> None:
    root, out = make_study(tmp_path / "study"), tmp_path / "out"
    text = write_report(root, out).read_text()
    grid = root / "runs" / "seed0" / "dcgan" / "gan_samples.png"
    assert (out / "figures" / "samples_dcgan.png").read_bytes() == grid.read_bytes()
    assert "not shown" not in text


def test_a_cached_sample_grid_reaches_the_run_only_as_a_small_png(tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG + SECRET)
    entry = tmp_path / "entry"
    entry.mkdir()
    dest = tmp_path / "run" / "gan_samples.png"
    assert copy_sample_grid(entry / "samples.png", dest) is False  # none
    (entry / "samples.png").symlink_to(secret)
    assert copy_sample_grid(entry / "samples.png", dest) is False and not dest.exists()
    (entry / "samples.png").unlink()
    (entry / "samples.png").write_bytes(SECRET)
    assert copy_sample_grid(entry / "samples.png", dest) is False and not dest.exists()
    (entry / "samples.png").unlink()
    _sparse(entry / "samples.png", 64 * 2**20, PNG)
    assert copy_sample_grid(entry / "samples.png", dest) is False and not dest.exists()
    (entry / "samples.png").unlink()
    (entry / "samples.png").write_bytes(PNG + b"grid")
    assert copy_sample_grid(entry / "samples.png", dest) is True
    assert dest.read_bytes() == PNG + b"grid"


# --- the planned runs of a sweep ------------------------------------------------------------------


@pytest.mark.parametrize(
    "sweep",
    [
        {"hydra": {"sweeper": {"params": {"seed": "range(0,1000000000000)"}}}},
        {"hydra": {"overrides": {"task": ["seed=range(0,30000000)"]}}},
        {"hydra": {"overrides": {"task": ["seed=shuffle(range(0,1000000000000))"]}}},
        {"hydra": {"overrides": {"task": ["seed=range(0,40000)", "scenario=a,b,c"]}}},
    ],
    ids=["params", "task", "shuffled", "product"],
)
def test_a_sweep_planning_too_many_runs_is_one_error_line(tmp_path: Path, sweep: dict) -> None:
    root = make_multirun(tmp_path)
    (root / "multirun.yaml").write_text(json.dumps({"task": "classify", **sweep}))
    proc = _report(str(root))
    assert_one_error_line(proc, "multirun.yaml", "more than 100,000")


def test_an_infinite_or_misshapen_sweep_is_a_one_line_user_error(tmp_path: Path) -> None:
    (tmp_path / "multirun.yaml").write_text("task: classify\nseed: .inf\n")
    with pytest.raises(UserError, match="multirun.yaml"):
        read_sweep_plan(tmp_path)
    _multirun_yaml(tmp_path, ["seed=range("])  # Hydra's parse error spans several lines
    with pytest.raises(UserError) as err:
        read_sweep_plan(tmp_path)
    assert "\n" not in str(err.value)
    (tmp_path / "multirun.yaml").write_text(
        json.dumps({"task": "classify", "hydra": {"overrides": {"task": "seed=1"}}})
    )
    with pytest.raises(UserError, match="hydra.overrides.task"):  # not a list: not its letters
        read_sweep_plan(tmp_path)


# --- study.json and the records' fields -----------------------------------------------------------


@pytest.mark.parametrize(
    "key, value",
    [
        ("seeds", 5),
        ("seeds", ["0"]),
        ("scenarios", "original"),
        ("baseline", 7),
        ("alpha", "x"),
        ("deviations", "fewer epochs"),
    ],
)
def test_a_study_json_field_of_the_wrong_type_is_one_line_naming_file_and_key(
    tmp_path: Path, key: str, value
) -> None:
    root = make_study(tmp_path)
    study = {"scenarios": ["original", "dcgan", "oversample"], "seeds": [0, 1, 2], key: value}
    (root / "study.json").write_text(json.dumps(study))
    with pytest.raises(UserError) as err:
        write_report(root, tmp_path / "out")
    assert "study.json" in str(err.value) and f"{key} must be" in str(err.value)
    assert not (tmp_path / "out" / "report.md").exists()


def test_the_cli_names_a_study_json_of_the_wrong_shape_in_one_line(tmp_path: Path) -> None:
    root = make_study(tmp_path)
    (root / "study.json").write_text('{"scenarios": "original", "seeds": 5, "baseline": 7}')
    assert_one_error_line(_report(str(root)), "study.json", "scenarios must be")


def test_a_study_json_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "study.json").mkdir()
    with pytest.raises(UserError, match="not a regular file"):
        read_study(tmp_path)


@pytest.mark.parametrize("classes", [[[1], {"a": 2}], "0", [True], {"0": 1}])
def test_a_record_with_misshapen_minority_classes_is_a_failed_run(tmp_path: Path, classes) -> None:
    root = make_study(tmp_path)
    _metrics_json(root / "runs" / "seed0" / "smote", "original", 0)
    path = root / "runs" / "seed0" / "smote" / "metrics.json"
    rec = json.loads(path.read_text())
    rec.update(scenario="smote", minority_classes=classes)
    path.write_text(json.dumps(rec))
    rows, failures, minority = collect_runs(root)
    assert len(rows) == 9 and minority == [0]
    (failure,) = failures
    assert (failure["scenario"], failure["seed"], failure["run_dir"]) == (
        "smote",
        0,
        "runs/seed0/smote",
    )
    assert "minority_classes" in failure["error"]


@pytest.mark.parametrize("key, value", [("experiment", {"a": 1}), ("seed", 1.5), ("family", [1])])
def test_a_record_with_a_misshapen_name_field_is_a_failed_run(
    tmp_path: Path, key: str, value
) -> None:
    root = make_study(tmp_path)
    path = root / "runs" / "seed0" / "original" / "metrics.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))
    rows, failures, _ = collect_runs(root)
    (failure,) = failures
    assert len(rows) == 8 and failure["run_dir"] == "runs/seed0/original"
    assert failure["error"].startswith("malformed metrics.json") and key in failure["error"]


def test_a_failure_of_a_record_naming_no_scalar_scenario_is_still_listed(tmp_path: Path) -> None:
    root = make_study(tmp_path)
    (root / "odd").mkdir()
    (root / "odd" / "failed.json").write_text(
        json.dumps({"kind": "classify", "scenario": ["x"], "seed": {"a": 1}, "error": "boom"})
    )
    (failure,) = collect_runs(root)[1]
    assert failure["scenario"] == '["x"]' and failure["error"] == "boom"


# --- reading records ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, why",
    [
        ("deep", "nested too deeply"),
        ("latin1", "utf-8"),
        ("oversized", "more than"),
        ("folder", "not a regular file"),
    ],
)
def test_record_read_refuses_what_no_run_writes(tmp_path: Path, kind: str, why: str) -> None:
    path = tmp_path / "metrics.json"
    if kind == "deep":
        path.write_text("[" * 200_000 + "]" * 200_000)
    elif kind == "latin1":
        path.write_bytes(b'{"scenario": "caf\xe9"}')
    elif kind == "oversized":  # a valid record one byte over the limit
        path.write_text('{"pad": "' + " " * (record.MAX_RECORD_BYTES - 10) + '"}')
        assert path.stat().st_size == record.MAX_RECORD_BYTES + 1
    else:
        path.mkdir()
    with pytest.raises(record.RecordError, match="unreadable metrics.json") as err:
        record.read(path)
    assert why in str(err.value)


def test_record_read_turns_running_out_of_memory_into_a_record_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "metrics.json"
    path.write_text("[]")

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(json, "loads", exhausted)
    with pytest.raises(record.RecordError, match="too large"):
        record.read(path)


def test_read_json_takes_an_optional_byte_limit(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"a": 12}')  # 9 bytes
    assert read_json(path, max_bytes=9) == {"a": 12} == read_json(path)
    with pytest.raises(ValueError, match="more than"):
        read_json(path, max_bytes=8)


def test_the_cli_lists_unreadable_records_as_failures_within_bounded_memory(
    tmp_path: Path,
) -> None:
    # in a subprocess, limited: read unbounded, /dev/zero and 20 GB take all memory, and a FIFO
    # opened for reading waits for a writer forever
    root = make_study(tmp_path, seeds=(0,))
    bad = {"huge": None, "zero": None, "deep": None, "fifo": None}
    for name in bad:
        (root / name).mkdir()
    _sparse(root / "huge" / "metrics.json", 20 * 2**30, b'{"kind": "classify", "x": "')
    (root / "zero" / "metrics.json").symlink_to("/dev/zero")
    (root / "deep" / "metrics.json").write_text("[" * 200_000)
    os.mkfifo(root / "fifo" / "metrics.json")
    proc = _report(str(root))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for name in bad:
        assert f"{name}: unreadable metrics.json" in proc.stderr, proc.stderr[-3000:]
