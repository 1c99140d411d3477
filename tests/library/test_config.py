"""camlib.config: profiles, device, seeding, folders."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from camlib import config
from camlib.config import (
    checkpoint_dir,
    data_root,
    get_device,
    get_profile,
    seed_everything,
)

CHECKOUT = Path(__file__).resolve().parents[2]  # tests/ lies in the checkout camlib is installed from


@pytest.fixture
def no_env(monkeypatch):
    for name in ("CAMLIB_PROFILE", "CAMLIB_DEVICE", "CAMLIB_DATA", "CAMLIB_CHECKPOINTS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def no_gpu(no_env):
    no_env.setattr(torch.cuda, "is_available", lambda: False)
    no_env.setattr(torch.backends.mps, "is_available", lambda: False)
    return no_env


# --------------------------------------------------------------------------------------
# profiles
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["quick", "full", " Full ", "QUICK"])
def test_profile_by_argument(no_env, name):
    no_env.setenv("CAMLIB_PROFILE", "quick" if name.strip().lower() == "full" else "full")
    assert get_profile(name).name == name.strip().lower()  # the argument beats the environment


@pytest.mark.parametrize("value", ["quick", "full", "Full"])
def test_profile_from_environment(no_env, value):
    no_env.setenv("CAMLIB_PROFILE", value)
    no_env.setattr(torch.cuda, "is_available", lambda: value.lower() == "quick")  # opposite of the env
    assert get_profile().name == value.lower()


@pytest.mark.parametrize("cuda, expected", [(True, "full"), (False, "quick")])
def test_default_profile_follows_cuda(no_env, cuda, expected):
    no_env.setattr(torch.cuda, "is_available", lambda: cuda)
    assert get_profile().name == expected


@pytest.mark.parametrize("name", ["fast", "debug"])
def test_bad_profile_name(no_env, name):
    with pytest.raises(ValueError) as error:
        get_profile(name)
    assert repr(name) in str(error.value) and "CAMLIB_PROFILE" in str(error.value)


def test_bad_profile_from_environment(no_env):
    no_env.setenv("CAMLIB_PROFILE", "turbo")
    with pytest.raises(ValueError, match="'turbo'"):
        get_profile()


def test_profile_pick():
    assert get_profile("quick").quick is True
    assert get_profile("full").quick is False
    assert get_profile("quick").pick(quick=2, full=20) == 2
    assert get_profile("full").pick(quick=2, full=20) == 20


# --------------------------------------------------------------------------------------
# device
# --------------------------------------------------------------------------------------


def test_device_defaults_to_cpu_without_accelerators(no_gpu):
    assert get_device() == torch.device("cpu")


def test_device_prefers_cuda_when_present(no_gpu):
    no_gpu.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device().type == "cuda"


def test_device_honours_environment(no_gpu):
    no_gpu.setattr(torch.cuda, "is_available", lambda: True)
    no_gpu.setenv("CAMLIB_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    assert get_device("meta") == torch.device("meta")  # the argument beats the environment


# --------------------------------------------------------------------------------------
# seeding
# --------------------------------------------------------------------------------------


def _draw(generator):
    return (
        torch.rand(4),
        np.random.rand(3),
        random.random(),
        torch.rand(2, generator=generator),
    )


def test_seed_everything_repeats_every_generator():
    first = _draw(seed_everything(123))
    second = _draw(seed_everything(123))
    other = _draw(seed_everything(124))
    torch.testing.assert_close(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2] == second[2]
    torch.testing.assert_close(first[3], second[3])
    assert not torch.equal(first[0], other[0])
    assert not np.array_equal(first[1], other[1])
    assert first[2] != other[2]
    assert not torch.equal(first[3], other[3])


def test_seed_everything_accepts_large_seeds():
    seed_everything(2**40)  # NumPy wants < 2**32; the seed is reduced modulo 2**32
    a = np.random.rand()
    seed_everything(2**40)
    assert np.random.rand() == a


# --------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------


def test_project_root_is_this_checkout():
    assert config.project_root() == CHECKOUT


@pytest.mark.parametrize(
    "function, variable, default",
    [(data_root, "CAMLIB_DATA", "data"), (checkpoint_dir, "CAMLIB_CHECKPOINTS", "checkpoints")],
    ids=["data_root", "checkpoint_dir"],
)
class TestFolders:
    def test_default_is_in_the_checkout(self, no_env, function, variable, default):
        assert function() == CHECKOUT / default

    def test_environment_absolute(self, no_env, tmp_path, function, variable, default):
        no_env.setenv(variable, str(tmp_path / "elsewhere"))
        assert function() == (tmp_path / "elsewhere").resolve()

    def test_environment_relative_and_home(self, no_env, tmp_path, function, variable, default):
        no_env.chdir(tmp_path)
        no_env.setenv(variable, "relative/folder")
        assert function() == tmp_path.resolve() / "relative" / "folder"
        no_env.setenv("HOME", str(tmp_path / "home"))
        no_env.setenv(variable, "~/stuff")
        assert function() == (tmp_path / "home" / "stuff").resolve()

    def test_empty_variable_means_default(self, no_env, function, variable, default):
        no_env.setenv(variable, "")
        assert function() == CHECKOUT / default


# --------------------------------------------------------------------------------------
# hostile inputs (issue 10): errors that name the argument or variable, and the fix
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["fast", "turbo ", "quick,full"])
def test_garbage_profile_in_the_environment_names_the_variable(no_env, value):
    no_env.setenv("CAMLIB_PROFILE", value)
    with pytest.raises(ValueError) as error:
        get_profile()
    assert "CAMLIB_PROFILE environment variable" in str(error.value) and repr(value.strip()) in str(error.value)


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_profile_means_the_default(no_gpu, blank):
    no_gpu.setenv("CAMLIB_PROFILE", blank)
    assert get_profile().name == "quick"
    assert get_profile(blank).name == "quick"


@pytest.mark.parametrize("name", [1, ["quick"], True])
def test_profile_name_of_another_type(no_env, name):
    with pytest.raises(TypeError, match="profile name"):
        get_profile(name)


def test_a_profile_cannot_be_made_with_an_unknown_name():
    with pytest.raises(ValueError, match="'fast'"):
        config.Profile("fast")  # it would otherwise act as "full"


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "quick"])
def test_unknown_device_names(no_gpu, name):
    with pytest.raises(ValueError, match=f"device={name!r}"):
        get_device(name)
    no_gpu.setenv("CAMLIB_DEVICE", name)
    with pytest.raises(ValueError, match=f"CAMLIB_DEVICE={name!r}"):
        get_device()


def test_a_device_this_machine_lacks(no_gpu):
    with pytest.raises(ValueError, match="CUDA is not available.*'cpu'"):
        get_device("cuda")
    with pytest.raises(ValueError, match="MPS is not available"):
        get_device("mps")
    no_gpu.setattr(torch.cuda, "is_available", lambda: True)
    no_gpu.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="1 CUDA device"):
        get_device("cuda:3")
    assert get_device(torch.device("cuda", 0)) == torch.device("cuda", 0)
    with pytest.raises(TypeError, match="device"):
        get_device(0)


@pytest.mark.parametrize("seed", [1.5, "1", None, True, [1]])
def test_seed_must_be_an_integer(seed):
    with pytest.raises(TypeError, match="seed"):
        seed_everything(seed)


def test_seed_range_and_numpy_integers():
    with pytest.raises(ValueError, match="seed"):
        seed_everything(2**64)
    a = torch.rand(1, generator=seed_everything(np.int64(7)))
    assert torch.equal(a, torch.rand(1, generator=seed_everything(7)))


@pytest.mark.parametrize(
    "function, variable, default",
    [(data_root, "CAMLIB_DATA", "data"), (checkpoint_dir, "CAMLIB_CHECKPOINTS", "checkpoints")],
    ids=["data", "checkpoints"],
)
def test_folder_variable_naming_a_file_or_blank(no_env, tmp_path, function, variable, default):
    (tmp_path / "file").write_text("x")
    no_env.setenv(variable, str(tmp_path / "file"))
    with pytest.raises(NotADirectoryError, match=variable):
        function()
    no_env.setenv(variable, "   ")
    assert function() == CHECKOUT / default


def test_check_int():
    assert config.check_int(np.int32(3), "n", minimum=1) == 3
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        config.check_int(0, "n", minimum=1)
    with pytest.raises(TypeError, match="n must be an integer, got 2.0") as error:
        config.check_int(2.0, "n")
    assert isinstance(error.value, ValueError)  # callers that caught ValueError still do


def test_check_path_and_check_file(tmp_path):
    from camlib.config import check_file, check_path

    (tmp_path / "f.txt").write_text("x")
    assert check_path("~/x") == Path.home() / "x" and check_file(tmp_path / "f.txt") == tmp_path / "f.txt"
    for value in (None, 5, " ", ["a"]):
        with pytest.raises(TypeError, match="root must be a file or folder name"):
            check_path(value, "root")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_file(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        check_file(tmp_path / "nope.txt")


def test_free_memory_collects_and_tolerates_another_c_library(monkeypatch):
    import ctypes
    import gc

    collected = []
    monkeypatch.setattr(gc, "collect", lambda: collected.append(True) or 0)
    config.free_memory()  # glibc here: malloc_trim runs
    def no_glibc(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", no_glibc)
    config.free_memory()  # musl or macOS: nothing to trim, no error
    assert collected == [True, True]
