"""camlib.data: IDX files, the search for local copies, the offline partition, the errors.

Most tests write tiny synthetic MNIST files (IDX format, gzip) into ``tmp_path`` in
torchvision's layout, ``<root>/MNIST/raw/*.gz``. camlib md5-checks every file against
the table torchvision publishes, which our synthetic files cannot match. Rather than
switching the check off (patching ``check_integrity``), the ``synthetic_mnist`` fixture
swaps only the *table*: ``torchvision.datasets.MNIST.resources`` (which camlib reads at
call time through ``TORCHVISION_CLASSES``) is monkeypatched to hold the md5 of each file
we write. The real md5 check still runs, so a corrupted file is still rejected (tested).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import datasets as tv_datasets

import camlib.data
from camlib.data import DataNotFoundError, DigitDataset, load_digits, read_idx

TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
ALL_FILES = TRAIN_FILES + TEST_FILES
N_TEST, N_TRAIN = 50, 30
MNIST_CLASSES = list(tv_datasets.MNIST.classes)


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of an unsigned-byte array: magic 0x0000 08 <ndim>, then big-endian int32 sizes."""
    header = (0x0800 | array.ndim).to_bytes(4, "big")
    header += b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    return header + array.astype(np.uint8).tobytes()


def synthetic_split(n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 4x4 images; image i is filled with the value ``offset + i``, its label is i % 10.
    A pixel value therefore tells which image it came from, and the label must agree."""
    images = (offset + np.arange(n, dtype=np.uint8))[:, None, None] * np.ones((1, 4, 4), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def synthetic_files(train_offset: int = 100) -> dict[str, bytes]:
    train_images, train_labels = synthetic_split(N_TRAIN, train_offset)
    test_images, test_labels = synthetic_split(N_TEST, 0)
    arrays = dict(zip(ALL_FILES, (train_images, train_labels, test_images, test_labels)))
    # mtime=0: the same bytes, hence the same md5, on every run
    return {name: gzip.compress(idx_bytes(array), mtime=0) for name, array in arrays.items()}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class SyntheticFiles:
    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.md5s = {name: md5(data) for name, data in files.items()}

    def write(self, folder: Path, names=ALL_FILES) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            (folder / name).write_bytes(self.files[name])
        return folder


@pytest.fixture
def synthetic_mnist(monkeypatch) -> SyntheticFiles:
    """Synthetic MNIST files whose md5s stand in torchvision's table (see the module docstring)."""
    files = SyntheticFiles(synthetic_files())
    monkeypatch.setattr(tv_datasets.MNIST, "resources", list(files.md5s.items()))
    return files


def pixel_ids(dataset: DigitDataset) -> list[int]:
    """The value each image is filled with (its index in the synthetic split)."""
    return [round(float(image[0, 0, 0]) * 255) for image, _ in dataset]


def camlib_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, UserWarning)]


# --------------------------------------------------------------------------------------
# read_idx
# --------------------------------------------------------------------------------------


def test_read_idx_gzip_and_raw(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 2, 2) * 20
    (tmp_path / "images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(array)))
    (tmp_path / "images-idx3-ubyte").write_bytes(idx_bytes(array))
    for name in ("images-idx3-ubyte.gz", "images-idx3-ubyte"):
        read = read_idx(tmp_path / name)
        assert read.dtype == np.uint8 and read.shape == (3, 2, 2)
        np.testing.assert_array_equal(read, array)
        assert read[2, 1, 1] == 220


def test_read_idx_labels(tmp_path):
    (tmp_path / "labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 4, 7, 0, 9, 3]))
    np.testing.assert_array_equal(read_idx(tmp_path / "labels-idx1-ubyte"), [7, 0, 9, 3])


@pytest.mark.parametrize(
    "header, shown",
    [
        (bytes([0, 0, 0x0D, 1]), "0x00000d01"),  # IDX of float32: not the MNIST byte format
        (b"PK\x03\x04", "0x504b0304"),  # a zip file, not IDX at all
    ],
)
def test_read_idx_bad_magic(tmp_path, header, shown):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(header + bytes([0, 0, 0, 1, 5]))
    with pytest.raises(ValueError) as error:
        read_idx(path)
    assert shown in str(error.value)
    assert str(path) in str(error.value)


# --------------------------------------------------------------------------------------
# only the official test split: a seeded, disjoint partition and a warning
# --------------------------------------------------------------------------------------


def test_test_split_only_is_partitioned(tmp_path, synthetic_mnist):
    raw = synthetic_mnist.write(tmp_path / "MNIST" / "raw", TEST_FILES)
    with pytest.warns(UserWarning, match="only the official test split") as record:
        splits = load_digits("mnist", tmp_path, download=False, held_out=10, seed=0)
    assert "partitioned" in str(record[0].message)

    assert (len(splits.train), len(splits.test)) == (N_TEST - 10, 10)
    train_ids, test_ids = pixel_ids(splits.train), pixel_ids(splits.test)
    assert not set(train_ids) & set(test_ids)  # disjoint
    assert sorted(train_ids + test_ids) == list(range(N_TEST))  # and together the whole split
    for dataset, ids in ((splits.train, train_ids), (splits.test, test_ids)):
        assert [label for _, label in dataset] == [i % 10 for i in ids]  # images keep their labels

    assert splits.official_split is False
    assert "partitioned" in splits.source and "seed 0" in splits.source and str(raw) in splits.source
    assert "train part" in splits.train.source and "held-out part" in splits.test.source
    assert splits.classes == MNIST_CLASSES
    image, label = splits.train[0]
    assert image.shape == (1, 4, 4) and image.dtype == torch.float32 and isinstance(label, int)


def partition(root: Path, seed: int):
    with pytest.warns(UserWarning, match="partitioned"):
        return load_digits("mnist", root, download=False, held_out=10, seed=seed)


def test_partition_depends_on_the_seed_only(tmp_path, synthetic_mnist):
    synthetic_mnist.write(tmp_path / "MNIST" / "raw", TEST_FILES)
    first, again, other = (partition(tmp_path, seed) for seed in (0, 0, 1))
    assert pixel_ids(first.test) == pixel_ids(again.test)
    assert pixel_ids(first.train) == pixel_ids(again.train)
    assert set(pixel_ids(first.test)) != set(pixel_ids(other.test))
    assert "seed 1" in other.source


@pytest.mark.parametrize("held_out", [0, N_TEST, N_TEST + 5])
def test_partition_size_must_fit(tmp_path, synthetic_mnist, held_out):
    synthetic_mnist.write(tmp_path / "MNIST" / "raw", TEST_FILES)
    with pytest.raises(ValueError, match=f"held_out.*{held_out}"):
        load_digits("mnist", tmp_path, download=False, held_out=held_out)


# --------------------------------------------------------------------------------------
# all four files: the official split
# --------------------------------------------------------------------------------------


def test_all_files_give_the_official_split(tmp_path, synthetic_mnist):
    raw = synthetic_mnist.write(tmp_path / "MNIST" / "raw")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        splits = load_digits("mnist", tmp_path, download=False)
    assert camlib_warnings(record) == []
    assert splits.official_split is True
    assert (len(splits.train), len(splits.test)) == (N_TRAIN, N_TEST)
    assert pixel_ids(splits.train) == list(range(100, 100 + N_TRAIN))  # in file order
    assert pixel_ids(splits.test) == list(range(N_TEST))
    assert [label for _, label in splits.train] == [i % 10 for i in range(N_TRAIN)]
    torch.testing.assert_close(splits.test.images[7], torch.full((1, 4, 4), 7 / 255))
    assert "official" in splits.source and str(raw) in splits.source


def test_a_second_load_shares_the_tensors_until_a_file_changes(tmp_path, synthetic_mnist):
    raw = synthetic_mnist.write(tmp_path / "MNIST" / "raw")
    first = load_digits("mnist", tmp_path, download=False)
    assert load_digits("mnist", tmp_path, download=False) is first  # one copy in memory, read once
    assert load_digits("mnist", tmp_path, download=False, held_out=20) is not first  # other arguments
    assert load_digits("mnist", tmp_path, download=False) is not first  # only the last load is kept
    (raw / TRAIN_FILES[0]).unlink()  # now only the test split: partitioned, and said so every time
    for _ in range(2):
        with pytest.warns(UserWarning, match="partitioned"):
            assert load_digits("mnist", tmp_path, download=False, held_out=10).official_split is False


def test_root_defaults_to_camlib_data(tmp_path, synthetic_mnist, monkeypatch):
    synthetic_mnist.write(tmp_path / "MNIST" / "raw")
    monkeypatch.setenv("CAMLIB_DATA", str(tmp_path))
    assert load_digits("mnist", download=False).official_split is True


def test_corrupted_file_is_not_trusted(tmp_path, synthetic_mnist):
    raw = synthetic_mnist.write(tmp_path / "MNIST" / "raw")
    data = bytearray((raw / "train-images-idx3-ubyte.gz").read_bytes())
    (raw / "train-images-idx3-ubyte.gz").write_bytes(bytes(data[:-8]))  # truncated: md5 differs
    with pytest.warns(UserWarning, match="partitioned"):
        splits = load_digits("mnist", tmp_path, download=False, held_out=10)
    assert splits.official_split is False


# --------------------------------------------------------------------------------------
# nothing usable: an error that says where to look and what to put there
# --------------------------------------------------------------------------------------


def test_nothing_present_names_folder_and_files(tmp_path):
    with pytest.raises(DataNotFoundError) as error:
        load_digits("mnist", tmp_path, download=False)
    assert isinstance(error.value, FileNotFoundError)
    message = str(error.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    for name in ALL_FILES:
        assert name in message
    assert "9fb629c4189551a2d022fa330f9573f3" in message  # torchvision's md5 of the test images
    assert "CAMLIB_DATA" in message


def test_unknown_data_set():
    with pytest.raises(ValueError, match="'cifar'"):
        load_digits("cifar")


# --------------------------------------------------------------------------------------
# download=True on a machine without network
# --------------------------------------------------------------------------------------


def _offline(self, *args, **kwargs):
    raise OSError("network is unreachable")


def test_failed_download_falls_through_to_the_partition(tmp_path, synthetic_mnist, monkeypatch):
    monkeypatch.setattr(tv_datasets.MNIST, "download", _offline)
    synthetic_mnist.write(tmp_path / "MNIST" / "raw", TEST_FILES)
    with pytest.warns(UserWarning, match="partitioned") as record:
        splits = load_digits("mnist", tmp_path, download=True, held_out=10)
    message = str(record[0].message)
    assert "download" in message and "failed" in message
    assert "network is unreachable" in message  # the reason is passed on
    assert splits.official_split is False and len(splits.test) == 10


def test_failed_download_and_no_files(tmp_path, monkeypatch):
    monkeypatch.setattr(tv_datasets.MNIST, "download", _offline)
    with pytest.raises(DataNotFoundError) as error:
        load_digits("mnist", tmp_path, download=True)
    assert "network is unreachable" in str(error.value)


def test_successful_download_gives_the_official_split(tmp_path, synthetic_mnist, monkeypatch):
    def fake_download(self):
        # what torchvision's download leaves behind: the .gz files and their extracted copies
        raw = synthetic_mnist.write(Path(self.raw_folder))
        for name in ALL_FILES:
            (raw / name[:-3]).write_bytes(gzip.decompress(synthetic_mnist.files[name]))

    monkeypatch.setattr(tv_datasets.MNIST, "download", fake_download)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        splits = load_digits("mnist", tmp_path, download=True)
    assert camlib_warnings(record) == []
    assert splits.official_split is True and len(splits.train) == N_TRAIN


# --------------------------------------------------------------------------------------
# Fashion-MNIST: torchvision's layout first, then Debian's package folder
# --------------------------------------------------------------------------------------


@pytest.fixture
def debian_fashion(tmp_path, monkeypatch) -> tuple[Path, SyntheticFiles]:
    files = SyntheticFiles(synthetic_files(train_offset=150))
    folder = tmp_path / "usr-share-datasets-fashion-mnist"
    monkeypatch.setattr(camlib.data.digits, "FASHION_MNIST_DEBIAN_DIR", folder)
    monkeypatch.setattr(camlib.data.digits, "DEBIAN_FASHION_MNIST_MD5", dict(files.md5s))
    return folder, files


def test_fashion_mnist_from_the_debian_folder(tmp_path, debian_fashion):
    folder, files = debian_fashion
    files.write(folder)
    splits = load_digits("fashion-mnist", tmp_path / "empty-root", download=False)
    assert splits.official_split is True
    assert str(folder) in splits.source and splits.source.startswith("fashion-mnist")
    assert splits.classes == list(tv_datasets.FashionMNIST.classes)
    assert splits.classes[0] == "T-shirt/top"
    assert pixel_ids(splits.train) == list(range(150, 150 + N_TRAIN))


def test_fashion_mnist_prefers_the_torchvision_folder(tmp_path, debian_fashion, monkeypatch):
    folder, files = debian_fashion
    files.write(folder)
    local = SyntheticFiles(synthetic_files(train_offset=200))
    monkeypatch.setattr(tv_datasets.FashionMNIST, "resources", list(local.md5s.items()))
    raw = local.write(tmp_path / "root" / "FashionMNIST" / "raw")
    splits = load_digits("fashion-mnist", tmp_path / "root", download=False)
    assert str(raw) in splits.source
    assert pixel_ids(splits.train)[0] == 200


def test_fashion_mnist_debian_test_split_only(tmp_path, debian_fashion):
    folder, files = debian_fashion
    files.write(folder, TEST_FILES)
    with pytest.warns(UserWarning, match="partitioned"):
        splits = load_digits("fashion-mnist", tmp_path / "empty-root", download=False, held_out=5)
    assert str(folder) in splits.source and len(splits.test) == 5


def test_fashion_mnist_error_names_both_places(tmp_path, debian_fashion):
    folder, _ = debian_fashion
    with pytest.raises(DataNotFoundError) as error:
        load_digits("fashion-mnist", tmp_path / "empty-root", download=False)
    assert str(folder) in str(error.value)
    assert str(tmp_path / "empty-root" / "FashionMNIST" / "raw") in str(error.value)


# --------------------------------------------------------------------------------------
# the real files, where this machine has them
# --------------------------------------------------------------------------------------

SHARED_DATA = Path(os.environ.get("CAMLIB_DATA") or "/work/shared/data")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not all((SHARED_DATA / "MNIST" / "raw" / name).is_file() for name in TEST_FILES),
    reason=f"no MNIST test split under {SHARED_DATA}",
)
def test_real_mnist():
    has_train = all((SHARED_DATA / "MNIST" / "raw" / name).is_file() for name in TRAIN_FILES)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        splits = load_digits("mnist", SHARED_DATA, download=False)
    if splits.official_split:
        assert has_train and (len(splits.train), len(splits.test)) == (60000, 10000)
    else:  # the offline case: the official test split, partitioned 8,000 / 2,000
        assert (len(splits.train), len(splits.test)) == (8000, 2000)
        assert any("partitioned" in message for message in camlib_warnings(record))
    for dataset in (splits.train, splits.test):
        assert dataset.images.shape[1:] == (1, 28, 28)
        assert 0.0 <= float(dataset.images.min()) and float(dataset.images.max()) <= 1.0
        assert sorted(dataset.labels.unique().tolist()) == list(range(10))
    assert splits.classes == MNIST_CLASSES


@pytest.mark.skipif(
    not all((DEBIAN_FASHION / name).is_file() for name in ALL_FILES),
    reason=f"Debian's dataset-fashion-mnist is not installed ({DEBIAN_FASHION})",
)
def test_real_fashion_mnist_from_debian(tmp_path):
    splits = load_digits("fashion-mnist", tmp_path, download=False)
    assert splits.official_split is True
    assert str(DEBIAN_FASHION) in splits.source
    assert (len(splits.train), len(splits.test)) == (60000, 10000)
    assert splits.train.images.shape[1:] == (1, 28, 28)
    assert sorted(splits.test.labels.unique().tolist()) == list(range(10))
    assert torch.bincount(splits.test.labels).tolist() == [1000] * 10


# --------------------------------------------------------------------------------------
# DigitDataset.subset
# --------------------------------------------------------------------------------------


@pytest.fixture
def forty(tmp_path, synthetic_mnist) -> DigitDataset:
    synthetic_mnist.write(tmp_path / "MNIST" / "raw", TEST_FILES)
    return partition(tmp_path, 0).train  # 40 images, pixel value = index in the split


def test_subset_is_seeded_and_keeps_labels(forty):
    first, again, other = forty.subset(10, seed=0), forty.subset(10, seed=0), forty.subset(10, seed=1)
    assert len(first) == 10
    ids = pixel_ids(first)
    assert len(set(ids)) == 10 and set(ids) <= set(pixel_ids(forty))
    assert [label for _, label in first] == [i % 10 for i in ids]
    assert pixel_ids(again) == ids
    assert pixel_ids(other) != ids
    assert first.source.startswith(forty.source) and "seed 0" in first.source
    assert first.images.shape == (10, 1, 4, 4) and first.classes == forty.classes


def test_subset_larger_than_the_data_set_is_the_data_set(forty):
    assert forty.subset(40) is forty
    assert forty.subset(1000) is forty


# --------------------------------------------------------------------------------------
# faults and hostile inputs (issue 10): say what is wrong with which file, never hang
# --------------------------------------------------------------------------------------


def test_files_failing_their_md5_are_named_apart_from_missing_ones(tmp_path, synthetic_mnist):
    """Fault 4: a truncated file was reported like a missing one."""
    raw = synthetic_mnist.write(tmp_path / "MNIST" / "raw", TEST_FILES)
    (raw / TEST_FILES[0]).write_bytes(synthetic_mnist.files[TEST_FILES[0]][:-8])  # truncated
    with pytest.raises(DataNotFoundError) as error:
        load_digits("mnist", tmp_path, download=False)
    lines = str(error.value).splitlines()
    (md5_line,) = [line for line in lines if "fail their md5 check" in line]
    assert TEST_FILES[0] in md5_line and "delete them and download them again" in md5_line
    (missing_line,) = [line for line in lines if "missing:" in line]
    assert all(name in missing_line for name in TRAIN_FILES) and TEST_FILES[0] not in missing_line


def test_a_damaged_training_split_is_named_in_the_partition_warning(tmp_path, synthetic_mnist):
    raw = synthetic_mnist.write(tmp_path / "MNIST" / "raw")
    (raw / TRAIN_FILES[1]).write_bytes(b"half a file")
    with pytest.warns(UserWarning, match="partitioned") as record:
        load_digits("mnist", tmp_path, download=False, held_out=10)
    message = str(record[0].message)
    assert "fail their md5 check" in message and TRAIN_FILES[1] in message


def _denied(paths):
    """An ``open`` that refuses ``paths``: tests run as root, whom chmod does not stop."""

    def fake_open(path, *args, **kwargs):
        if Path(path) in paths:
            raise PermissionError(13, "Permission denied", str(path))
        return open(path, *args, **kwargs)

    return fake_open


def test_a_file_that_cannot_be_read_is_named(tmp_path, synthetic_mnist, monkeypatch):
    raw = synthetic_mnist.write(tmp_path / "MNIST" / "raw")
    monkeypatch.setattr(camlib.data.digits, "open", _denied({raw / TEST_FILES[1]}), raising=False)
    with pytest.raises(DataNotFoundError) as error:
        load_digits("mnist", tmp_path, download=False)
    (line,) = [line for line in str(error.value).splitlines() if "cannot be read" in line]
    assert f"{TEST_FILES[1]} (Permission denied)" in line and "permissions" in line
    assert "md5 check" not in str(error.value) and "missing:" not in str(error.value)


def test_a_folder_that_cannot_be_read_is_named(tmp_path, synthetic_mnist, monkeypatch):
    raw = synthetic_mnist.write(tmp_path / "MNIST" / "raw")
    listdir = os.listdir

    def fake_listdir(path="."):
        if Path(path) == raw:
            raise PermissionError(13, "Permission denied", str(path))
        return listdir(path)

    monkeypatch.setattr(camlib.data.digits.os, "listdir", fake_listdir)
    monkeypatch.setattr(camlib.data.digits, "open", _denied({raw / name for name in ALL_FILES}), raising=False)
    with pytest.raises(DataNotFoundError) as error:
        load_digits("mnist", tmp_path, download=False)
    assert f"{raw}: the folder cannot be read (Permission denied)" in str(error.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file whatever its mode")
def test_a_folder_without_permissions(tmp_path, synthetic_mnist):
    raw = synthetic_mnist.write(tmp_path / "MNIST" / "raw")
    raw.chmod(0)
    try:
        with pytest.raises(DataNotFoundError, match="cannot be read"):
            load_digits("mnist", tmp_path, download=False)
    finally:
        raw.chmod(0o755)


def test_a_silent_server_does_not_hang_the_download(tmp_path, synthetic_mnist, silent_server, monkeypatch):
    """Fault 3: torchvision's download waited forever on a server that never answers."""
    import time

    monkeypatch.setattr(tv_datasets.MNIST, "mirrors", [f"{silent_server}/"])
    synthetic_mnist.write(tmp_path / "MNIST" / "raw", TEST_FILES)
    start = time.monotonic()
    with pytest.warns(UserWarning, match="partitioned") as record:
        splits = load_digits("mnist", tmp_path, download=True, held_out=10, timeout=1)
    assert time.monotonic() - start < 10
    assert splits.official_split is False
    assert "no answer within 1 s" in str(record[0].message)

    start = time.monotonic()
    with pytest.raises(DataNotFoundError) as error:
        load_digits("mnist", tmp_path / "empty", download=True, timeout=1)
    assert time.monotonic() - start < 10
    assert "no answer within 1 s" in str(error.value) and "into " in str(error.value)


def test_the_download_runs_under_the_default_timeout(tmp_path, monkeypatch):
    import socket

    from camlib.data.download import DEFAULT_TIMEOUT

    seen = []

    def download(self):
        seen.append(socket.getdefaulttimeout())
        _offline(self)

    monkeypatch.setattr(tv_datasets.MNIST, "download", download)
    with pytest.raises(DataNotFoundError):
        load_digits("mnist", tmp_path, download=True)
    assert seen == [DEFAULT_TIMEOUT]


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"name": None}, ValueError, "None"),
        ({"name": ["mnist"]}, ValueError, "mnist"),
        ({"download": "no"}, TypeError, "download"),
        ({"held_out": 0}, ValueError, "held_out must be an integer >= 1, got 0"),
        ({"held_out": 2.5}, TypeError, "held_out"),
        ({"held_out": "10"}, TypeError, "held_out"),
        ({"seed": "0"}, TypeError, "seed"),
        ({"seed": 1.0}, TypeError, "seed"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": "5"}, ValueError, "timeout"),
        ({"root": 5}, TypeError, "root"),
    ],
)
def test_load_digits_argument_errors(tmp_path, kwargs, error, text):
    arguments = {"root": tmp_path, "download": False, **kwargs}
    with pytest.raises(error, match=text):
        load_digits(**arguments)


def test_load_digits_root_that_is_a_file(tmp_path):
    (tmp_path / "data").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        load_digits("mnist", tmp_path / "data", download=False)


def test_name_is_case_insensitive(tmp_path, synthetic_mnist):
    synthetic_mnist.write(tmp_path / "MNIST" / "raw")
    assert load_digits(" MNIST", tmp_path, download=False).official_split is True


def test_read_idx_of_damaged_files(tmp_path):
    images = np.zeros((3, 2, 2), dtype=np.uint8)
    (tmp_path / "short-idx3-ubyte").write_bytes(idx_bytes(images)[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(str(tmp_path / "short-idx3-ubyte"))  # a str path is fine too
    (tmp_path / "cut.gz").write_bytes(gzip.compress(idx_bytes(images))[:-6])
    with pytest.raises(ValueError, match="damaged"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "empty")


@pytest.mark.parametrize(
    "images, labels, classes, text",
    [
        (torch.zeros(2, 4, 4, dtype=torch.uint8), torch.tensor([0, 3]), ["a", "b"], r"0\.\.1"),
        (torch.zeros(2, 4, 4, dtype=torch.uint8), torch.tensor([0.0, 1.0]), ["a", "b"], "integer"),
        (torch.full((2, 4, 4), 255.0), torch.tensor([0, 1]), ["a", "b"], r"\[0, 1\]"),
        (torch.full((2, 4, 4), float("nan")), torch.tensor([0, 1]), ["a", "b"], "NaN"),
        (torch.zeros(2, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]), "ab", "classes"),
        (torch.zeros(2, 4, 4, dtype=torch.uint8), torch.tensor([[0, 1]]), ["a", "b"], "one label each"),
        ([[0]], torch.tensor([0]), ["a"], "images"),
    ],
)
def test_digit_dataset_refuses_inconsistent_data(images, labels, classes, text):
    with pytest.raises(ValueError, match=text):
        DigitDataset(images, labels, classes, "test")


def test_digit_dataset_accepts_numpy():
    dataset = DigitDataset(np.full((2, 4, 4), 255, dtype=np.uint8), np.array([1, 0]), ["a", "b"], "numpy")
    assert dataset[0][1] == 1 and float(dataset.images.max()) == 1.0


@pytest.mark.parametrize("size, seed", [(2.5, 0), (0, 0), (True, 0), (5, "a")])
def test_subset_argument_errors(forty, size, seed):
    with pytest.raises(ValueError, match="size|seed"):
        forty.subset(size, seed)


def test_canvas_argument_types():
    from camlib.data import CanvasDigits, localization_splits

    source = DigitDataset(torch.full((4, 28, 28), 200, dtype=torch.uint8), torch.arange(4), MNIST_CLASSES, "flat")
    assert len(CanvasDigits(source, np.int64(3), canvas=np.int32(48), seed=np.int64(1))) == 3
    for kwargs, text in [({"size": True}, "size"), ({"seed": "1"}, "seed"), ({"seed": 0.5}, "seed"),
                         ({"threshold": "0.5"}, "threshold"), ({"fragment": 2.0, "clutter": 1}, "fragment"),
                         ({"scale": (1.0, float("nan"))}, "scale"), ({"size": 10**9}, "GiB")]:
        with pytest.raises(ValueError, match=text):
            CanvasDigits(source, **kwargs)
    with pytest.raises(TypeError, match="DigitDataset"):
        CanvasDigits(torch.zeros(4, 1, 28, 28))
    with pytest.raises(TypeError, match="seed"):
        localization_splits(seed="1")  # before loading anything


def test_read_idx_names_a_missing_file_a_folder_and_a_path_of_another_type(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing.idx.*no such file"):
        read_idx(tmp_path / "missing.idx")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        read_idx(tmp_path)
    with pytest.raises(TypeError, match="path must be a file or folder name .*got None"):
        read_idx(None)
