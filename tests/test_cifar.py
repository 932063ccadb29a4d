"""CIFAR (issue 28): files in the standard python format, written here, load through the CIFAR
source, read without running code, and data=cifar10_lt keeps exactly the exponential profile
of Cao et al. 2019."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from imbalance_gan.data import split_from_config
from imbalance_gan.data.cifar import CIFARSource, long_tail_counts
from imbalance_gan.runtime.errors import UserError

from .conftest import make_cfg

PER_CLASS = 500  # per class over the five training batches: the CIFAR-100-LT n_max


def write_cifar10(root: Path, per_class: int = PER_CLASS, test_per_class: int = 5) -> Path:
    """A tiny CIFAR-10 in the python format: five training batches and a test batch of pickled
    dicts (bytes keys, a uint8 N x 3072 ``data`` array, a ``labels`` list) and the meta file."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), per_class)
    rng.shuffle(labels)
    for i, part in enumerate(np.array_split(labels, 5), start=1):
        data = rng.integers(0, 256, (len(part), 3072), dtype=np.uint8)
        data[:, 0] = part  # the label in the first pixel, to check that images keep their labels
        batch = {b"batch_label": b"training batch", b"labels": part.tolist(), b"data": data}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    test = np.repeat(np.arange(10), test_per_class)
    data = rng.integers(0, 256, (len(test), 3072), dtype=np.uint8)
    data[:, 0] = test
    (folder / "test_batch").write_bytes(pickle.dumps({b"labels": test.tolist(), b"data": data}))
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
    return root


def test_the_long_tail_profile_is_cao_et_al_s():
    # CIFAR-10-LT at ratio 100 as the LDAM-DRW code builds it: int(5000 * 100^(-i/9))
    assert long_tail_counts(5000, 100, 10) == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    counts = long_tail_counts(500, 100, 100)
    assert counts[0] == 500 and counts[-1] == 5 and counts == sorted(counts, reverse=True)


def test_a_cifar_format_folder_loads_with_its_labels_and_class_names(tmp_path):
    source = CIFARSource("cifar10", write_cifar10(tmp_path), verify=False)
    x, y = source.load(True)
    assert x.dtype == torch.uint8 and x.shape == (10 * PER_CLASS, 3, 32, 32)
    assert torch.equal(x[:, 0, 0, 0].long(), y)  # the first pixel of the red plane
    assert torch.bincount(y).tolist() == [PER_CLASS] * 10
    assert source.classes[0] == "airplane" and len(source.classes) == 10
    tx, ty = source.load(False)
    assert tx.shape == (50, 3, 32, 32) and torch.equal(tx[:, 0, 0, 0].long(), ty)


def test_cifar10_lt_keeps_exactly_the_exponential_counts(tmp_path):
    root = write_cifar10(tmp_path)
    cfg = make_cfg(
        "classify",
        ["data=cifar10_lt", f"data.root={root}", "data.source.verify=false", "experiment=smoke"],
        tmp_path / "out",
    )
    dm = split_from_config(cfg.data)
    assert list(dm.counts) == long_tail_counts(PER_CLASS, 100, 10)
    assert list(dm.counts) == [500, 299, 179, 107, 64, 38, 23, 13, 8, 5]
    assert dm.minority == tuple(range(1, 10)) and dm.image_shape == (3, 32, 32)
    assert dm.class_names[0] == "airplane"
    total = torch.bincount(torch.cat([dm.train_y, dm.val_y]), minlength=10).tolist()
    assert total == list(dm.counts)


def test_a_cifar_file_that_would_run_code_or_is_not_the_release_is_refused(tmp_path):
    root = write_cifar10(tmp_path)
    batch = root / "cifar-10-batches-py" / "data_batch_1"
    # verify: these are not the release's files, the class-name file included (read first)
    with pytest.raises(UserError, match="batches.meta has md5 .* expected"):
        CIFARSource("cifar10", root)
    meta = (root / "cifar-10-batches-py" / "batches.meta").read_bytes()
    (root / "cifar-10-batches-py" / "batches.meta").unlink()  # names only: optional
    with pytest.raises(UserError, match="data_batch_1 has md5 .* expected"):
        CIFARSource("cifar10", root).load(True)
    (root / "cifar-10-batches-py" / "batches.meta").write_bytes(meta)

    class Sneaky:
        def __reduce__(self):
            return (print, ("ran",))

    batch.write_bytes(pickle.dumps({b"data": Sneaky(), b"labels": []}))
    with pytest.raises(UserError, match="refused .*data_batch_1: it holds builtins.print"):
        CIFARSource("cifar10", root, verify=False).load(True)
    # a file of one's own in this format is named by its content in the cache key
    before = CIFARSource("cifar10", root, verify=False).identity()
    batch.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]}))
    assert CIFARSource("cifar10", root, verify=False).identity() != before
    (root / "cifar-10-batches-py" / "batches.meta").unlink()
    assert CIFARSource("cifar10", root).identity() == {"dataset": "cifar10"}
    (root / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(UserError, match=r"files \['test_batch'\] not found .* downloads are off"):
        CIFARSource("cifar10", root, verify=False).load(False)


class _Declared:
    """Unpickles to numpy's ``_reconstruct`` of an array of ``shape``, allocated at once."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def __reduce__(self):
        numpy_reconstruct = np.ndarray.__reduce__(np.zeros(0))[0]
        return numpy_reconstruct, (np.ndarray, self.shape, b"B")


ROW = list(range(256)) * 12  # 3,072 values: one image row of a CIFAR batch


@pytest.mark.parametrize(
    "batch, message",
    [
        # 6,000 references to one row: a 30 KB file that np.asarray inflated to 147 MB
        ({b"data": [ROW] * 6000, b"labels": [0] * 6000}, "`data` is a list, expected a uint8"),
        # an array allocated from its declared shape alone, 61 MB, before its bytes are read
        ({b"data": _Declared((20_000, 3072)), b"labels": []}, r"shape \[20000, 3072\]"),
    ],
    ids=["data_list", "declared_shape"],
)
def test_a_small_cifar_file_is_refused_before_it_inflates(batch, message, tmp_path):
    import tracemalloc

    root = write_cifar10(tmp_path, per_class=2, test_per_class=1)
    path = root / "cifar-10-batches-py" / "data_batch_1"
    path.write_bytes(pickle.dumps(batch))
    assert path.stat().st_size < 100_000
    source = CIFARSource("cifar10", root, verify=False, memory_limit_gb=0.01)
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match=f"data_batch_1: .*{message}"):
            source.load(True)
        assert tracemalloc.get_traced_memory()[1] < 20 * 2**20
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "labels, message",
    [
        (["3"] * 2, "a label is str '3'"),
        ([[1, 2]] * 2, r"a label is list \[1, 2\]"),
        ([-1, 0], "label -1 is negative"),
        ([0, 10], r"label 10 is not a class of data.num_classes=10 \(labels are 0 .. 9\)"),
        (np.array([0.0, 1.0]), "labels are float64"),
    ],
)
def test_a_test_batch_label_that_is_not_a_class_is_refused_naming_the_file(
    labels, message, tmp_path
):
    root = write_cifar10(tmp_path, per_class=2, test_per_class=1)
    test_batch = root / "cifar-10-batches-py" / "test_batch"
    batch = {b"labels": labels, b"data": np.zeros((2, 3072), np.uint8)}
    test_batch.write_bytes(pickle.dumps(batch))
    with pytest.raises(UserError, match=f"test_batch: `labels`: {message}"):
        CIFARSource("cifar10", root, verify=False).load(False)


def test_cifar_files_larger_than_the_memory_limit_are_refused_before_they_are_read(tmp_path):
    root = write_cifar10(tmp_path, per_class=100)
    source = CIFARSource("cifar10", root, verify=False, memory_limit_gb=0.001)
    with pytest.raises(UserError, match="cifar-10-batches-py would need .* GiB in memory, more "):
        source.load(True)
    assert CIFARSource("cifar10", root, verify=False).load(True)[0].shape == (1000, 3, 32, 32)


def test_a_small_cifar_file_sharing_bytes_between_many_arrays_is_refused(tmp_path):
    """numpy fills each unpickled array from bytes a pickle may share (memoised) between many;
    with a byte-swapped dtype each array copies them, so 200 arrays of a 5 MB file built
    about 1 GB. A CIFAR file holds one array."""
    root = write_cifar10(tmp_path)
    rebuild, args, state = np.zeros((2**20 // 4,), dtype=">u4").__reduce__()

    class Shared:  # an array whose state holds the one bytes object: pickled once, memoised
        def __reduce__(self):
            return rebuild, args, state

    blob = pickle.dumps({b"data": [Shared() for _ in range(200)], b"labels": [0]})
    assert len(blob) < 2 * 2**20  # 1 MB of bytes, 200 arrays
    batch = root / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(blob)
    with pytest.raises(UserError, match="more than 4 arrays"):
        CIFARSource("cifar10", root, verify=False).load(True)
