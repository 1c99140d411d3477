"""camlib.train: fit, evaluate, and checkpoints (atomic writes, weights_only reads, mismatches)."""

from __future__ import annotations

import math
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from camlib.models import FlattenFCNet, GAPNet
from camlib.train import (
    CHECKPOINT_FORMAT,
    Checkpoint,
    CheckpointMismatchError,
    History,
    TrainingDivergedError,
    atomic_save,
    evaluate,
    fit,
    load_checkpoint,
    save_checkpoint,
)

# --------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------


def test_fit_learns_a_separable_problem(separable_loader, separable_data):
    torch.manual_seed(0)
    model = GAPNet(num_classes=2, widths=(8, 16), downsample=1)
    history = fit(model, separable_loader, epochs=5, lr=1e-2, progress=False)
    assert isinstance(history, History)
    assert len(history.train_loss) == len(history.train_accuracy) == len(history.seconds) == 5
    assert history.val_loss == [] and history.val_accuracy == []
    assert history.train_accuracy[-1] >= 0.9
    assert history.train_loss[-1] < history.train_loss[0]
    assert not model.training  # fit leaves the model ready for inference
    scores = evaluate(model, DataLoader(separable_data, batch_size=64))
    assert scores["accuracy"] >= 0.9


def test_fit_records_validation_each_epoch(separable_loader, separable_data):
    torch.manual_seed(0)
    model = FlattenFCNet(num_classes=2, widths=(4,), input_size=8, downsample=0)
    val = DataLoader(separable_data, batch_size=32)
    history = fit(model, separable_loader, epochs=2, val_loader=val, progress=False)
    assert len(history.val_loss) == len(history.val_accuracy) == 2
    n = len(separable_data)
    assert all(abs(a * n - round(a * n)) < 1e-9 for a in history.val_accuracy)  # a share of the n items
    assert history.val_accuracy[-1] == evaluate(model, val)["accuracy"]
    assert set(history.as_dict()) == {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"}


def test_fit_needs_an_epoch(separable_loader, tiny_gapnet):
    with pytest.raises(ValueError, match="epochs"):
        fit(tiny_gapnet, separable_loader, epochs=0, progress=False)


# --------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------


def _fixed_logits_loader(batch_size: int) -> DataLoader:
    # With an identity linear layer the inputs are the logits:
    #   [ln 3, 0], label 0: loss -ln(3/4) = ln(4/3), correct
    #   [0, 0],    label 1: loss ln 2, wrong (a tie's argmax is 0)
    #   [0, ln 3], label 1: loss ln(4/3), correct
    inputs = torch.tensor([[math.log(3), 0.0], [0.0, 0.0], [0.0, math.log(3)]])
    return DataLoader(TensorDataset(inputs, torch.tensor([0, 1, 1])), batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_evaluate_by_hand(batch_size):
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    scores = evaluate(model, _fixed_logits_loader(batch_size))
    # (2 ln(4/3) + ln 2) / 3, whatever the batch sizes (batches of 2 and 1 included)
    assert scores["loss"] == pytest.approx(0.42283710848783567, abs=1e-6)
    assert scores["accuracy"] == pytest.approx(2 / 3)


class ModeRecorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.seen: list[bool] = []

    def forward(self, x):
        self.seen.append(self.training)
        return self.linear(x)


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_runs_in_eval_mode_and_restores_the_mode(training):
    model = ModeRecorder().train(training)
    evaluate(model, _fixed_logits_loader(2))
    assert model.seen == [False, False]
    assert model.training is training


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_empty_loader(training):
    model = ModeRecorder().train(training)
    empty = DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), batch_size=4)
    with pytest.raises(ValueError, match="empty loader"):
        evaluate(model, empty)
    assert model.training is training


def test_evaluate_restores_the_mode_when_interrupted():
    """A KeyboardInterrupt (the notebook's stop button) or a bad batch must not leave a
    training model in eval mode."""

    def batches():
        yield torch.zeros(2, 2), torch.tensor([0, 1])
        raise KeyboardInterrupt

    model = ModeRecorder().train()
    with pytest.raises(KeyboardInterrupt):
        evaluate(model, batches())
    assert model.training is True


def test_evaluate_sends_no_gradients():
    model = nn.Linear(2, 2)
    evaluate(model, _fixed_logits_loader(3))
    assert all(p.grad is None for p in model.parameters())


# --------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------

CLASS_NAMES = ["left", "right", "none"]
METRICS = {"accuracy": 0.75, "loss": 0.5}
HISTORY = History(train_loss=[1.0, 0.5], train_accuracy=[0.5, 0.75], seconds=[0.1, 0.2])


def _save(path, model, **overrides):
    arguments = {
        "class_names": CLASS_NAMES,
        "data_source": "synthetic: 3 images",
        "metrics": METRICS,
        "history": HISTORY,
    }
    arguments.update(overrides)
    return save_checkpoint(path, model, **arguments)


def _perturbed(model: nn.Module) -> nn.Module:
    """Weights (and BatchNorm statistics) that differ from a fresh model's."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.rand(tensor.shape, generator=generator))
    return model.eval()


def test_checkpoint_round_trip(tmp_path, tiny_gapnet):
    model = _perturbed(tiny_gapnet)
    path = _save(tmp_path / "sub" / "gapnet.pt", model)  # the folder is created
    assert path == tmp_path / "sub" / "gapnet.pt" and path.is_file()

    loaded = load_checkpoint(path)
    assert isinstance(loaded, Checkpoint)
    assert type(loaded.model) is GAPNet and loaded.model is not model
    assert not loaded.model.training
    assert loaded.architecture == "GAPNet"
    assert loaded.config == model.config
    assert loaded.class_names == CLASS_NAMES
    assert loaded.data_source == "synthetic: 3 images"
    assert loaded.metrics == METRICS
    assert loaded.history == HISTORY.as_dict()
    images = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(images), model(images), rtol=0, atol=0)
        fresh = GAPNet(**model.config).eval()
        assert not torch.allclose(fresh(images), model(images))  # so the check above means something


def test_checkpoint_loads_into_a_given_model(tmp_path, tiny_gapnet):
    model = _perturbed(tiny_gapnet)
    path = _save(tmp_path / "gapnet.pt", model, metrics=None, history=None)
    target = GAPNet(**model.config).train()
    loaded = load_checkpoint(path, target)
    assert loaded.model is target and not target.training
    assert loaded.metrics == {} and loaded.history == {}
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(target.state_dict()[name], tensor, rtol=0, atol=0)


def test_checkpoint_of_flattenfcnet(tmp_path):
    model = _perturbed(FlattenFCNet(num_classes=3, widths=(4,), input_size=8, downsample=1))
    loaded = load_checkpoint(_save(tmp_path / "flat.pt", model))
    assert type(loaded.model) is FlattenFCNet and loaded.config == model.config
    images = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(images), model(images))


def test_checkpoint_is_plain_data_for_weights_only(tmp_path, tiny_gapnet):
    path = _save(tmp_path / "gapnet.pt", tiny_gapnet)
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == CHECKPOINT_FORMAT
    assert payload["architecture"] == "GAPNet"
    assert all(isinstance(v, torch.Tensor) and v.device.type == "cpu" for v in payload["state_dict"].values())


def test_checkpoint_write_leaves_no_temporary_files(tmp_path, tiny_gapnet):
    _save(tmp_path / "gapnet.pt", tiny_gapnet)
    _save(tmp_path / "gapnet.pt", tiny_gapnet)  # overwriting, too
    assert sorted(os.listdir(tmp_path)) == ["gapnet.pt"]


def test_checkpoint_file_is_as_readable_as_any_new_file(tmp_path, tiny_gapnet):
    """The temporary file behind the atomic write is created 0600 by ``tempfile``; moved into
    place as it is, the checkpoint would be unreadable to the other users of a shared course
    machine (an instructor's pre-trained weights). It should get the usual umask permissions."""
    path = _save(tmp_path / "gapnet.pt", tiny_gapnet)
    reference = tmp_path / "reference"
    reference.write_bytes(b"")
    assert oct(stat.S_IMODE(path.stat().st_mode)) == oct(stat.S_IMODE(reference.stat().st_mode))


class Interrupted(Exception):
    pass


def _failing_save(*args, **kwargs):
    handle = args[1]
    handle.write(b"half a checkpoint")  # something was written before the failure
    raise Interrupted("disk full")


@pytest.mark.parametrize("error", [Interrupted, KeyboardInterrupt])
def test_failed_save_keeps_the_old_checkpoint(tmp_path, tiny_gapnet, monkeypatch, error):
    old = _perturbed(tiny_gapnet)
    path = _save(tmp_path / "gapnet.pt", old)
    before = path.read_bytes()

    def failing(obj, handle, *args, **kwargs):
        handle.write(b"half a checkpoint")
        raise error("disk full")

    monkeypatch.setattr(torch, "save", failing)
    with pytest.raises(error):
        _save(path, GAPNet(**old.config))
    monkeypatch.undo()

    assert os.listdir(tmp_path) == ["gapnet.pt"]  # no temporary file left
    assert path.read_bytes() == before
    images = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(load_checkpoint(path).model(images), old(images))


def test_failed_first_save_leaves_nothing(tmp_path, tiny_gapnet, monkeypatch):
    monkeypatch.setattr(torch, "save", _failing_save)
    with pytest.raises(Interrupted):
        _save(tmp_path / "gapnet.pt", tiny_gapnet)
    assert os.listdir(tmp_path) == []


def test_save_refuses_other_models(tmp_path):
    with pytest.raises(TypeError, match="Sequential"):
        _save(tmp_path / "x.pt", nn.Sequential(nn.Linear(2, 2)))
    assert not (tmp_path / "x.pt").exists()


def test_numpy_metrics_do_not_make_an_unloadable_checkpoint(tmp_path, tiny_gapnet):
    """Metrics computed with NumPy (np.mean over seeds, as notebook 03 does) are np.float64.
    save_checkpoint must not write a file that load_checkpoint (weights_only=True) then
    refuses: either it stores them as plain numbers, or it rejects them up front."""
    metrics = {"top1_loc": np.float64(0.625), "seeds": np.int64(3)}
    try:
        path = _save(tmp_path / "gapnet.pt", tiny_gapnet, metrics=metrics)
    except (TypeError, ValueError):
        assert not (tmp_path / "gapnet.pt").exists()
        return
    loaded = load_checkpoint(path)
    assert loaded.metrics == {"top1_loc": 0.625, "seeds": 3}


# --------------------------------------------------------------------------------------
# checkpoint mismatches
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "other, stored_text, given_text",
    [
        ({"pool": "gmp"}, "pool='gap'", "pool='gmp'"),
        ({"widths": (4, 16)}, "widths=[4, 8]", "widths=[4, 16]"),
        ({"num_classes": 10}, "num_classes=3", "num_classes=10"),
    ],
    ids=["pool", "widths", "classes"],
)
def test_load_into_another_configuration(tmp_path, tiny_gapnet, other, stored_text, given_text):
    path = _save(tmp_path / "gapnet.pt", tiny_gapnet)
    wanted = GAPNet(**{**tiny_gapnet.config, **other})
    before = {k: v.clone() for k, v in wanted.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as error:
        load_checkpoint(path, wanted)
    assert isinstance(error.value, ValueError)
    message = str(error.value)
    assert str(path) in message
    assert message.count("GAPNet(") == 2  # both configurations are spelled out
    assert stored_text in message and given_text in message
    for name, tensor in wanted.state_dict().items():  # the model was left alone
        torch.testing.assert_close(tensor, before[name], rtol=0, atol=0)


def test_load_into_another_architecture(tmp_path, tiny_gapnet):
    path = _save(tmp_path / "gapnet.pt", tiny_gapnet)
    with pytest.raises(CheckpointMismatchError) as error:
        load_checkpoint(path, FlattenFCNet(num_classes=3, widths=(4, 8), input_size=8, downsample=1))
    assert "GAPNet(" in str(error.value) and "FlattenFCNet(" in str(error.value)


def test_torch_file_without_the_camlib_format(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointMismatchError) as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and CHECKPOINT_FORMAT in str(error.value)


@pytest.mark.parametrize(
    "write",
    [
        lambda path: path.write_text("hello, not a checkpoint"),
        lambda path: torch.save(nn.Linear(2, 2), path),  # a whole pickled module
        lambda path: path.write_bytes(b""),  # an empty file
    ],
    ids=["text", "pickled-module", "empty"],
)
def test_non_camlib_files_raise_checkpoint_mismatch(tmp_path, write):
    """Notebooks catch (FileNotFoundError, CheckpointMismatchError) to decide to train
    again; any file that is not a camlib checkpoint must land in the second."""
    path = tmp_path / "gapnet.pt"
    write(path)
    with pytest.raises(CheckpointMismatchError) as error:
        load_checkpoint(path)
    assert str(path) in str(error.value)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_checkpoint(tmp_path / "absent.pt")
    assert str(tmp_path / "absent.pt") in str(error.value)


# --------------------------------------------------------------------------------------
# fit_or_load: the notebooks' "train once, then reuse" step
# --------------------------------------------------------------------------------------


def _small_model(**config) -> GAPNet:
    torch.manual_seed(0)
    return GAPNet(**{"num_classes": 2, "widths": (4,), "downsample": 0, **config})


def _fit_or_load(path, model, loader, source="synthetic left/right", **kwargs):
    from camlib.train import fit_or_load

    return fit_or_load(
        path, model, loader, class_names=["left", "right"], data_source=source, epochs=1, progress=False, **kwargs
    )


def _no_training(*args, **kwargs):
    raise AssertionError("fit() was called although a matching checkpoint exists")


def test_fit_or_load_trains_once_then_loads(tmp_path, separable_loader, monkeypatch):
    path = tmp_path / "model.pt"
    trained = _small_model()
    history, loaded = _fit_or_load(path, trained, separable_loader)
    assert loaded is False and path.is_file()
    assert len(history["train_loss"]) == 1

    monkeypatch.setattr("camlib.train.loop.fit", _no_training)
    again = _small_model()
    history_again, loaded_again = _fit_or_load(path, again, separable_loader)
    assert loaded_again is True
    assert history_again == history
    images = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(again(images), trained(images), rtol=0, atol=0)


@pytest.mark.parametrize(
    "change",
    [{"source": "other data"}, {"config": {"pool": "gmp"}}, {"retrain": True}],
    ids=["data-source", "configuration", "retrain"],
)
def test_fit_or_load_retrains_when_asked_or_stale(tmp_path, separable_loader, change):
    path = tmp_path / "model.pt"
    _fit_or_load(path, _small_model(), separable_loader)
    model = _small_model(**change.get("config", {}))
    kwargs = {"retrain": True} if change.get("retrain") else {}
    _, loaded = _fit_or_load(path, model, separable_loader, change.get("source", "synthetic left/right"), **kwargs)
    assert loaded is False
    stored = load_checkpoint(path)
    assert stored.config == model.config
    assert stored.data_source == change.get("source", "synthetic left/right")
    kept = list(tmp_path.glob("model.pt.previous-*"))
    if change.get("retrain"):
        assert kept == []  # asked for: the valid checkpoint is replaced
    else:  # a parameter changed: the old weights are kept beside the new ones, still loadable
        assert len(kept) == 1 and load_checkpoint(kept[0]).config == _small_model().config


def test_a_failed_retraining_leaves_a_stale_checkpoint_where_it_was(tmp_path, separable_loader, monkeypatch):
    path = tmp_path / "model.pt"
    _fit_or_load(path, _small_model(), separable_loader)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("camlib.train.loop.fit", fail)
    with pytest.raises(KeyboardInterrupt):
        _fit_or_load(path, _small_model(pool="gmp"), separable_loader)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def test_fit_or_load_moves_a_file_that_is_no_checkpoint_aside(tmp_path, separable_loader):
    path = tmp_path / "model.pt"
    path.write_text("not a checkpoint")
    with pytest.warns(UserWarning, match="moved to") as record:
        _, loaded = _fit_or_load(path, _small_model(), separable_loader)
    assert loaded is False
    assert load_checkpoint(path).architecture == "GAPNet"
    (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith("model.pt.unreadable-")]
    assert aside.read_text() == "not a checkpoint" and str(aside) in str(record[0].message)


def test_a_checkpoint_older_than_a_new_model_option_still_loads(tmp_path):
    model = GAPNet(in_channels=1, num_classes=2, widths=(4, 8)).eval()
    path = save_checkpoint(tmp_path / "old.pt", model, class_names=["a", "b"], data_source="s")
    payload = torch.load(path, weights_only=True)
    del payload["config"]["convs_per_stage"]  # as written before that option existed
    torch.save(payload, path)
    loaded = load_checkpoint(path, GAPNet(in_channels=1, num_classes=2, widths=(4, 8)))
    assert loaded.config["convs_per_stage"] == 2


def test_fit_or_load_stores_the_held_out_metrics(tmp_path, separable_loader):
    from camlib.train import fit_or_load

    path = tmp_path / "model.pt"
    history, _ = fit_or_load(path, _small_model(), separable_loader, class_names=["left", "right"],
                             data_source="s", epochs=1, progress=False, val_loader=separable_loader)
    stored = load_checkpoint(path)
    assert stored.metrics == {"val_loss": history["val_loss"][-1], "val_accuracy": history["val_accuracy"][-1]}


def test_extra_entries_are_stored_and_may_not_overwrite_the_checkpoint(tmp_path, tiny_gapnet):
    path = save_checkpoint(tmp_path / "m.pt", tiny_gapnet, class_names=["a", "b", "c"], data_source="test",
                           extra={"step": 7, "optimizer": {"state": {}, "param_groups": []}})
    payload = torch.load(path, weights_only=True)
    assert payload["step"] == 7 and payload["optimizer"]["param_groups"] == []
    with pytest.raises(ValueError, match=r"extra entries \['state_dict'\] would overwrite"):
        save_checkpoint(tmp_path / "n.pt", tiny_gapnet, class_names=["a"], data_source="test",
                        extra={"state_dict": {}})
    assert not (tmp_path / "n.pt").exists()


# --------------------------------------------------------------------------------------
# hostile inputs and faults: clear errors, no lost checkpoints (issue 10)
# --------------------------------------------------------------------------------------


def _numpy_checkpoint(path, model):
    """What save_checkpoint wrote before it converted NumPy values: a file weights_only=True refuses."""
    payload = torch.load(_save(path, model, class_names=["left", "right"]), weights_only=True)
    payload["metrics"] = {"per_class_accuracy": np.array([0.5, 0.75, 1.0])}
    torch.save(payload, path)
    return path.read_bytes()


def test_numpy_arrays_in_metrics_and_extra_are_stored_as_lists(tmp_path, tiny_gapnet):
    metrics = {"per_class_accuracy": np.array([0.5, 0.75, 1.0]), "best": np.float32(0.75), "n": np.int64(4)}
    path = _save(tmp_path / "gapnet.pt", tiny_gapnet, metrics=metrics, extra={"seeds": np.arange(3)})
    loaded = load_checkpoint(path)
    assert loaded.metrics == {"per_class_accuracy": [0.5, 0.75, 1.0], "best": 0.75, "n": 4}
    assert type(loaded.metrics["n"]) is int and type(loaded.metrics["best"]) is float
    assert torch.load(path, weights_only=True)["seeds"] == [0, 1, 2]


@pytest.mark.parametrize(
    "metrics, named",
    [({"folder": Path("/tmp")}, "metrics['folder']"), ({"seeds": {1, 2}}, "metrics['seeds']"),
     ({"runs": [1, object()]}, r"metrics['runs'][1]")],
    ids=["path", "set", "object"],
)
def test_metrics_weights_only_cannot_read_are_refused_before_writing(tmp_path, tiny_gapnet, metrics, named):
    path = _save(tmp_path / "gapnet.pt", _perturbed(tiny_gapnet))
    before = path.read_bytes()
    with pytest.raises(TypeError) as error:
        _save(path, GAPNet(**tiny_gapnet.config), metrics=metrics)
    assert named in str(error.value) and "weights_only" in str(error.value)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["gapnet.pt"]


def test_fit_or_load_never_overwrites_an_unreadable_checkpoint(tmp_path, separable_loader):
    """Fault 1: a checkpoint with NumPy metrics was refused by load_checkpoint, and fit_or_load
    then trained and wrote over it. Now the file is moved aside, and the warning says where."""
    path = tmp_path / "model.pt"
    original = _numpy_checkpoint(path, _small_model())
    with pytest.warns(UserWarning) as record:
        _, loaded = _fit_or_load(path, _small_model(), separable_loader)
    assert loaded is False
    (aside,) = tmp_path.glob("model.pt.unreadable-*")
    assert aside.read_bytes() == original
    message = str(record[0].message)
    assert str(aside) in message and "NumPy" in message and "weights_only=False" in message
    assert load_checkpoint(path).data_source == "synthetic left/right"


def test_retrain_also_moves_an_unreadable_checkpoint_aside(tmp_path, separable_loader):
    path = tmp_path / "model.pt"
    path.write_bytes(b"\x00" * 10)
    with pytest.warns(UserWarning, match="unreadable-"):
        _fit_or_load(path, _small_model(), separable_loader, retrain=True)
    assert [p.read_bytes() for p in tmp_path.glob("model.pt.unreadable-*")] == [b"\x00" * 10]


def test_a_newer_checkpoint_format_is_kept(tmp_path, tiny_gapnet, separable_loader):
    path = tmp_path / "model.pt"
    payload = torch.load(_save(path, _small_model(), class_names=["left", "right"]), weights_only=True)
    torch.save({**payload, "format": "camlib-checkpoint/2"}, path)
    with pytest.raises(CheckpointMismatchError, match="camlib-checkpoint/2"):
        load_checkpoint(path)
    with pytest.warns(UserWarning, match="unreadable-"):
        _fit_or_load(path, _small_model(), separable_loader)
    assert len(list(tmp_path.glob("model.pt.unreadable-*"))) == 1


def test_map_location_cuda_without_cuda_is_no_corrupt_file(tmp_path, tiny_gapnet, monkeypatch):
    """Fault 2: a valid checkpoint read with map_location="cuda" on a CPU machine was called
    'not a camlib checkpoint ... delete it'."""
    path = _save(tmp_path / "gapnet.pt", tiny_gapnet)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError) as error:
        load_checkpoint(path, map_location="cuda")
    assert not isinstance(error.value, CheckpointMismatchError)
    message = str(error.value)
    assert "CUDA is not available" in message and "'cpu'" in message and "delete" not in message


def test_a_device_error_inside_torch_load_is_no_corrupt_file(tmp_path, separable_loader, monkeypatch):
    """A file whose tensors were saved on a GPU, read on a CPU-only machine (map_location=None)."""
    path = tmp_path / "model.pt"
    _fit_or_load(path, _small_model(), separable_loader)
    before = path.read_bytes()

    def cuda_tensors(*args, **kwargs):
        raise RuntimeError("Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is False.")

    monkeypatch.setattr(torch, "load", cuda_tensors)
    monkeypatch.setattr("camlib.train.loop.fit", _no_training)
    with pytest.raises(ValueError, match="map_location='cpu'") as error:
        _fit_or_load(path, _small_model(), separable_loader)
    assert not isinstance(error.value, CheckpointMismatchError) and "delete" not in str(error.value)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.pt"]


def test_a_checkpoint_that_cannot_be_opened_is_not_called_corrupt(tmp_path, separable_loader, monkeypatch):
    path = tmp_path / "model.pt"
    _fit_or_load(path, _small_model(), separable_loader)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("camlib.train.loop.open", denied, raising=False)  # root ignores chmod
    monkeypatch.setattr("camlib.train.loop.fit", _no_training)
    with pytest.raises(PermissionError, match="permissions") as error:
        _fit_or_load(path, _small_model(), separable_loader)
    assert str(path) in str(error.value)
    assert os.listdir(tmp_path) == ["model.pt"]


def test_weights_that_do_not_fit_leave_the_given_model_alone(tmp_path, tiny_gapnet):
    path = _save(tmp_path / "gapnet.pt", _perturbed(tiny_gapnet))
    payload = torch.load(path, weights_only=True)
    name = next(iter(payload["state_dict"]))
    payload["state_dict"][name] = payload["state_dict"][name][:1]
    torch.save(payload, path)
    target = GAPNet(**tiny_gapnet.config)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointMismatchError, match="wrong shape"):
        load_checkpoint(path, target)
    for key, tensor in target.state_dict().items():
        torch.testing.assert_close(tensor, before[key], rtol=0, atol=0)


def test_nan_weights_are_refused(tmp_path, tiny_gapnet):
    model = _perturbed(tiny_gapnet)
    path = _save(tmp_path / "gapnet.pt", model)
    good = path.read_bytes()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN or infinite weights"):  # a diverged model is not written ...
        _save(path, model)
    assert path.read_bytes() == good  # ... over the good checkpoint
    payload = torch.load(path, weights_only=True)
    payload["state_dict"] = model.state_dict()  # a NaN file written some other way
    torch.save(payload, path)
    with pytest.raises(CheckpointMismatchError, match="NaN"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "overrides, error, text",
    [
        ({"class_names": "abc"}, TypeError, "class_names"),
        ({"class_names": ["a", "b"]}, ValueError, "3 classes"),
        ({"class_names": [0, 1, 2]}, TypeError, "class_names"),
        ({"data_source": None}, TypeError, "data_source"),
        ({"metrics": [("accuracy", 0.5)]}, TypeError, "metrics"),
        ({"history": "loss"}, TypeError, "history"),
        ({"extra": {1: "x"}}, TypeError, "extra"),
    ],
)
def test_save_checkpoint_argument_errors(tmp_path, tiny_gapnet, overrides, error, text):
    with pytest.raises(error, match=text):
        _save(tmp_path / "gapnet.pt", tiny_gapnet, **overrides)
    assert os.listdir(tmp_path) == []


def test_checkpoint_paths_that_are_folders_or_not_paths(tmp_path, tiny_gapnet):
    with pytest.raises(IsADirectoryError, match="file name"):
        _save(tmp_path, tiny_gapnet)
    with pytest.raises(IsADirectoryError, match="file name"):
        load_checkpoint(tmp_path)
    with pytest.raises(TypeError, match="path"):
        load_checkpoint(3)
    with pytest.raises(ValueError, match="empty"):
        _save("", tiny_gapnet)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match="writable folder"):
        _save(tmp_path / "file" / "gapnet.pt", tiny_gapnet)  # the "folder" is a file


def test_unwritable_checkpoint_folder(tmp_path, tiny_gapnet, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", denied)  # root ignores chmod
    with pytest.raises(PermissionError, match="CAMLIB_CHECKPOINTS") as error:
        _save(tmp_path / "gapnet.pt", tiny_gapnet)
    assert str(tmp_path) in str(error.value)


def test_fit_or_load_checks_before_training(tmp_path, separable_loader, monkeypatch):
    from camlib.train import fit_or_load

    monkeypatch.setattr("camlib.train.loop.fit", _no_training)
    with pytest.raises(TypeError, match="class_names"):
        fit_or_load(tmp_path / "m.pt", _small_model(), separable_loader, class_names="left right", data_source="s")
    with pytest.raises(ValueError, match="2 classes"):
        fit_or_load(tmp_path / "m.pt", _small_model(), separable_loader, class_names=["a", "b", "c"], data_source="s")
    with pytest.raises(TypeError, match="retrain"):
        _fit_or_load(tmp_path / "m.pt", _small_model(), separable_loader, retrain="yes")
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda **kwargs: (_ for _ in ()).throw(PermissionError(13, "no")))
    with pytest.raises(PermissionError, match="cannot write checkpoints"):
        _fit_or_load(tmp_path / "m.pt", _small_model(), separable_loader)


def test_atomic_save_creates_the_folder_and_refuses_objects(tmp_path):
    path = atomic_save({"step": np.int64(3)}, tmp_path / "new" / "deeper" / "x.pt")
    assert torch.load(path, weights_only=True) == {"step": 3}
    with pytest.raises(TypeError, match="payload"):
        atomic_save({"model": nn.Linear(2, 2)}, tmp_path / "y.pt")
    assert not (tmp_path / "y.pt").exists()


def test_load_checkpoint_argument_errors(tmp_path, tiny_gapnet):
    path = _save(tmp_path / "gapnet.pt", tiny_gapnet)
    with pytest.raises(ValueError, match="map_location='gpu'"):
        load_checkpoint(path, map_location="gpu")
    with pytest.raises(TypeError, match="nn.Module"):
        load_checkpoint(path, model="GAPNet")


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"epochs": 0}, ValueError, "epochs"),
        ({"epochs": -2}, ValueError, "epochs"),
        ({"epochs": 2.5}, TypeError, "epochs"),
        ({"epochs": "3"}, TypeError, "epochs"),
        ({"epochs": True}, TypeError, "epochs"),
        ({"epochs": 1, "lr": 0}, ValueError, "lr"),
        ({"epochs": 1, "lr": float("nan")}, ValueError, "lr"),
        ({"epochs": 1, "lr": "fast"}, TypeError, "lr"),
        ({"epochs": 1, "weight_decay": -1}, ValueError, "weight_decay"),
        ({"epochs": 1, "device": "gpu"}, ValueError, "device='gpu'"),
        ({"epochs": 1, "device": 0}, TypeError, "device"),
    ],
)
def test_fit_argument_errors(separable_loader, tiny_gapnet, kwargs, error, text):
    with pytest.raises(error, match=text):
        fit(tiny_gapnet, separable_loader, progress=False, **kwargs)


def test_fit_on_cuda_without_cuda(separable_loader, tiny_gapnet, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        fit(tiny_gapnet, separable_loader, epochs=1, device="cuda", progress=False)


def test_fit_on_empty_loaders_fails_before_training(separable_loader, tiny_gapnet):
    empty = DataLoader(TensorDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long)), batch_size=4)
    before = {k: v.clone() for k, v in tiny_gapnet.state_dict().items()}
    with pytest.raises(ValueError, match="train_loader"):
        fit(tiny_gapnet, empty, epochs=1, progress=False)
    with pytest.raises(ValueError, match="val_loader"):
        fit(tiny_gapnet, separable_loader, epochs=1, val_loader=empty, progress=False)
    for key, tensor in tiny_gapnet.state_dict().items():
        torch.testing.assert_close(tensor, before[key], rtol=0, atol=0)
    with pytest.raises(TypeError, match="length"):
        fit(tiny_gapnet, (batch for batch in separable_loader), epochs=1, progress=False)
    with pytest.raises(TypeError, match="nn.Module"):
        fit("model", separable_loader, epochs=1)


def test_labels_outside_the_model_classes(separable_data):
    images, labels = separable_data.tensors
    loader = DataLoader(TensorDataset(images, labels + 1), batch_size=16)  # labels 1 and 2, two classes
    with pytest.raises(ValueError, match=r"0\.\.1.*num_classes >= 3"):
        fit(_small_model(), loader, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"0\.\.1"):
        evaluate(_small_model(), loader)
    floats = DataLoader(TensorDataset(images, labels.float()), batch_size=16)
    with pytest.raises(ValueError, match="integer class indices"):
        evaluate(_small_model(), floats)


def test_batches_that_are_not_pairs(separable_data):
    triples = [(torch.zeros(2, 1, 8, 8), torch.tensor([0, 1]), torch.zeros(2))]
    with pytest.raises(ValueError, match=r"\(images, labels\) pairs"):
        evaluate(_small_model(), triples)
    with pytest.raises(ValueError, match=r"\(images, labels\) pairs"):
        fit(_small_model(), triples, epochs=1, progress=False)


def test_nan_images_stop_fit_before_they_reach_the_model(separable_data):
    images, labels = separable_data.tensors
    images = images.clone()
    images[0, 0, 0, 0] = float("nan")
    model = _small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="NaN"):
        fit(model, DataLoader(TensorDataset(images, labels), batch_size=8), epochs=1, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        evaluate(model, DataLoader(TensorDataset(images, labels), batch_size=8))
    for key, tensor in model.state_dict().items():  # BatchNorm statistics included
        torch.testing.assert_close(tensor, before[key], rtol=0, atol=0)


def test_a_diverging_fit_stops_before_the_weights_take_the_step(separable_loader):
    model = _small_model()
    with torch.no_grad():
        model.classifier.weight.fill_(3e38)  # logits overflow to inf: the loss is not finite
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(TrainingDivergedError, match="lower lr") as error:
        fit(model, separable_loader, epochs=1, progress=False)
    assert isinstance(error.value, ValueError)
    for parameter, old in zip(model.parameters(), before):
        torch.testing.assert_close(parameter, old, rtol=0, atol=0)


def test_evaluate_refuses_to_report_nan(separable_loader):
    model = _small_model()
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        evaluate(model, separable_loader)


def test_fit_survives_a_loader_longer_than_its_length(separable_data):
    class Liar:
        def __init__(self, loader):
            self.loader = loader

        def __iter__(self):
            return iter(self.loader)

        def __len__(self):
            return 1  # the one-cycle schedule is sized for 1 step; 8 come

    history = fit(_small_model(), Liar(DataLoader(separable_data, batch_size=8)), epochs=2, progress=False)
    assert len(history.train_loss) == 2 and all(math.isfinite(v) for v in history.train_loss)


def test_evaluate_on_another_device_than_the_model(separable_loader):
    model = _small_model().to("meta")
    with pytest.raises(ValueError, match="model is on meta.*device='cpu'"):
        evaluate(model, separable_loader)


def test_a_failed_training_leaves_an_unreadable_checkpoint_where_it_was(tmp_path, separable_loader):
    path = tmp_path / "model.pt"
    path.write_bytes(b"garbage")
    from camlib.train import fit_or_load

    with pytest.raises(ValueError, match="epochs"):
        fit_or_load(path, _small_model(), separable_loader, class_names=["l", "r"], data_source="s", epochs=0)
    assert os.listdir(tmp_path) == ["model.pt"] and path.read_bytes() == b"garbage"


# --------------------------------------------------------------------------------------
# Red-team findings: models that fit, fail or hold weights of the wrong kind
# --------------------------------------------------------------------------------------


class _TupleModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 2)

    def forward(self, images):
        logits = self.linear(images.flatten(1))
        return logits, images


def test_fit_and_evaluate_name_models_that_return_no_tensor_or_cannot_take_the_images(separable_loader):
    for call in (fit, evaluate):
        kwargs = {"epochs": 1, "progress": False} if call is fit else {}
        with pytest.raises(ValueError, match=r"the model must return logits \[batch, classes\] .*got a tuple"):
            call(_TupleModel(), separable_loader, **kwargs)
        double = nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).double()
        with pytest.raises(ValueError, match=r"Sequential could not run on images of shape \[8, 1, 8, 8\]"):
            call(double, separable_loader, **kwargs)


def test_fit_refuses_a_model_with_nothing_to_train(separable_loader, tiny_gapnet):
    for parameter in tiny_gapnet.parameters():
        parameter.requires_grad_(False)
    for model in (tiny_gapnet, nn.Sequential(nn.Flatten())):
        with pytest.raises(ValueError, match="has no trainable parameters"):
            fit(model, separable_loader, epochs=1, progress=False)


def test_integer_weights_are_refused_not_rounded_into_the_model(tmp_path, tiny_gapnet):
    path = _save(tmp_path / "gapnet.pt", _perturbed(tiny_gapnet))
    payload = torch.load(path, weights_only=True)
    payload["state_dict"] = {k: v.long() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    torch.save(payload, path)
    with pytest.raises(CheckpointMismatchError, match="wrong shape or dtype .*features.0.weight"):
        load_checkpoint(path)


@pytest.mark.parametrize("map_location", [0, 1.5, ["cpu"]])
def test_a_map_location_torch_cannot_take_is_named_not_blamed_on_the_file(tmp_path, tiny_gapnet, map_location):
    path = _save(tmp_path / "gapnet.pt", tiny_gapnet)
    with pytest.raises(TypeError, match="map_location must be a device .*a dict or a function"):
        load_checkpoint(path, map_location=map_location)
    assert load_checkpoint(path, map_location={"cuda:0": "cpu"}).architecture == "GAPNet"
