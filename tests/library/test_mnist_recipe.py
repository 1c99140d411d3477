"""camlib.lab.mnist_recipe: the one recipe notebooks 02 and 04 share."""

import pytest
import torch
from torch.utils.data import DataLoader

from camlib import config
from camlib.data import DigitDataset, DigitSplits
from camlib.lab.mnist_recipe import DigitData, checkpoint_path, trained_network
from camlib.models import FlattenFCNet, GAPNet

CLASSES = [str(c) for c in range(10)]


@pytest.fixture
def tiny_data():
    images = torch.randint(0, 256, (40, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    dataset = DigitDataset(images, torch.arange(40) % 10, CLASSES, "synthetic")
    splits = DigitSplits(dataset, dataset, CLASSES, "synthetic", official_split=False)
    return DigitData(splits, dataset, dataset, DataLoader(dataset, batch_size=20), DataLoader(dataset, batch_size=20))


def test_checkpoint_names_are_shared(monkeypatch, tmp_path):
    monkeypatch.setenv("CAMLIB_CHECKPOINTS", str(tmp_path))
    assert checkpoint_path("gapnet", config.Profile("quick")) == tmp_path / "mnist_gapnet_quick_seed0.pt"
    full_fashion = checkpoint_path("flattenfc", config.Profile("full"), "fashion-mnist", seed=3)
    assert full_fashion.name == "fashion-mnist_flattenfc_full_seed3.pt"


def test_trained_network_trains_then_loads_the_same_weights(monkeypatch, tmp_path, tiny_data):
    monkeypatch.setenv("CAMLIB_CHECKPOINTS", str(tmp_path))
    quick = config.Profile("quick")
    model, history, loaded = trained_network("gapnet", tiny_data, quick, widths=(4, 8, 8), epochs=2)
    assert isinstance(model, GAPNet) and not model.training and not loaded
    assert len(history["train_loss"]) == 2
    again, _, loaded_again = trained_network("gapnet", tiny_data, quick, widths=(4, 8, 8), epochs=2)
    assert loaded_again
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    baseline, baseline_history, _ = trained_network("flattenfc", tiny_data, quick, widths=(4, 8, 8), epochs=2)
    assert isinstance(baseline, FlattenFCNet) and len(baseline_history["train_loss"]) == 1  # one epoch less


def test_unknown_kind_is_refused(tiny_data):
    with pytest.raises(ValueError, match="gapnet"):
        trained_network("resnet", tiny_data, config.Profile("quick"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, r"epochs must be an integer >= 1, got 0"),  # `epochs or 5` once trained 5 epochs
        ({"epochs": -2}, r"epochs must be an integer >= 1"),
        ({"lr": 0.0}, r"lr must be a positive finite number"),
        ({"lr": float("nan")}, r"lr must be a positive finite number"),
    ],
)
def test_trained_network_refuses_bad_training_arguments(tiny_data, monkeypatch, tmp_path, kwargs, message):
    monkeypatch.setenv("CAMLIB_CHECKPOINTS", str(tmp_path))
    with pytest.raises(ValueError, match=message):
        trained_network("gapnet", tiny_data, config.Profile("quick"), widths=(4, 8), **kwargs)
    assert not list(tmp_path.iterdir())  # refused before any training or checkpoint


def test_profile_names_are_accepted_and_other_values_refused(monkeypatch, tmp_path, tiny_data):
    monkeypatch.setenv("CAMLIB_CHECKPOINTS", str(tmp_path))
    assert checkpoint_path("gapnet", "quick") == checkpoint_path("gapnet", config.Profile("quick"))
    with pytest.raises(TypeError, match="profile must be a camlib.config.Profile"):
        checkpoint_path("gapnet", 3)
    with pytest.raises(ValueError, match=r"kind=\['gapnet'\]"):
        trained_network(["gapnet"], tiny_data, config.Profile("quick"))


def test_checkpoint_names_take_only_known_kinds_data_sets_and_integer_seeds(monkeypatch, tmp_path):
    monkeypatch.setenv("CAMLIB_CHECKPOINTS", str(tmp_path))
    for kwargs, error in [(dict(kind="resnet"), ValueError), (dict(dataset="../../etc"), ValueError),
                          (dict(seed="x/../../y"), TypeError), (dict(seed=0.5), TypeError)]:
        with pytest.raises(error, match="kind=|seed must"):
            checkpoint_path(**(dict(kind="gapnet", profile="quick") | kwargs))


def test_trained_network_names_its_data_device_and_seed_before_training(tiny_data, monkeypatch, tmp_path):
    monkeypatch.setenv("CAMLIB_CHECKPOINTS", str(tmp_path))
    for kwargs, error, match in [(dict(data=None), TypeError, "data must be camlib.lab.mnist_recipe.digit_data"),
                                 (dict(device="gpu"), ValueError, "not a device torch knows"),
                                 (dict(seed="zero"), TypeError, "seed must be an integer, got 'zero'"),
                                 (dict(seed=0.5), TypeError, "seed must be an integer, got 0.5")]:
        with pytest.raises(error, match=match):
            trained_network(**(dict(kind="gapnet", data=tiny_data, profile="quick", widths=(4, 8)) | kwargs))
    assert not list(tmp_path.iterdir())
