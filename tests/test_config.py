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

CHECKOUT = Path(__file__).resolve().parents[1]  # tests/ lies in the checkout camlib is installed from


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
