"""camlib.train.finetune: fine-tuning VGG16-GAP as a command, in one process and under torchrun (gloo, CPU).

Offline and CPU only: the data is camlib.imagenet's synthetic ILSVRC tree (3 classes, 4 images
each in train/ and val/, 24x24) of which runs keep 2 images per class (``images_per_class=2``: an
epoch is 3 steps of 2 images), the crops are 16x16 (VGG16-GAP's stride is 16: one map cell, enough
to train) and weights are random (``weights=None``), so no download happens. VGG16's 15 M conv
parameters still cost about a second per step on two CPU cores; every run here is two or three steps.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import pytest
import torch
from torchvision import datasets
from torchvision.models import VGG16_Weights

import camlib.train.finetune
from camlib.config import seed_everything
from camlib.data import DataNotFoundError
from camlib.data.ilsvrc import write_synthetic_ilsvrc
from camlib.models import VGG16GAP, vgg16_gap
from camlib.train import CHECKPOINT_FORMAT, load_checkpoint
from camlib.train.finetune import FinetuneConfig, FinetuneError, _ResumableSampler, finetune, main

WNIDS = ("n01440764", "n01443537", "n01484850")
REPO = Path(__file__).resolve().parents[2]


def _small(data: Path, output: Path, **overrides) -> FinetuneConfig:
    settings = dict(data=data, output=output, image_size=16, batch_size=2, images_per_class=2, workers=0,
                    progress=False, device="cpu")
    return FinetuneConfig(**{**settings, **overrides})


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ilsvrc")
    write_synthetic_ilsvrc(root, classes=WNIDS, images_per_class=4, size=(24, 24))
    return root


@pytest.fixture(scope="module")
def two_steps(data, tmp_path_factory):
    """One in-process run of two steps (of the three in an epoch): its config and result."""
    config = _small(data, tmp_path_factory.mktemp("run") / "vgg16_gap.pt", max_steps=2)
    return config, finetune(config)


# --------------------------------------------------------------------------------------
# One process
# --------------------------------------------------------------------------------------


def test_a_short_run_writes_a_checkpoint_that_loads_with_weights_only(two_steps):
    config, result = two_steps
    assert result.steps == 2 and result.resumed_from_step == 0
    assert result.checkpoint == Path(config.output) and result.class_names == list(WNIDS)
    assert isinstance(result.model, VGG16GAP) and not result.model.training

    (record,) = result.history
    assert record["complete"] is False and record["steps"] == 2 and record["images"] == 4
    assert math.isfinite(record["loss"]) and record["accuracy"] in (0, 0.25, 0.5, 0.75, 1)  # a share of 4 images
    _, val_set, _, _ = camlib.train.finetune._image_folders(config)  # the tree has val/<wnid>/
    with torch.no_grad():
        right = sum(int(result.model(image[None]).argmax()) == label for image, label in val_set)
    assert record["val_accuracy"] == pytest.approx(right / len(val_set), abs=1e-9)  # the model it returns
    assert math.isfinite(record["val_loss"])
    assert record["images_per_second"] > 0

    payload = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    assert payload["format"] == CHECKPOINT_FORMAT and payload["step"] == 2 and payload["epoch"] == 0
    assert {"optimizer", "scheduler", "scaler", "epoch_records", "finetune_config"} <= payload.keys()
    assert payload["optimizer"]["state"], "SGD momentum buffers are stored"
    assert payload["finetune_config"]["data"] == str(config.data)
    assert not list(result.checkpoint.parent.glob(".*.tmp")), "the atomic write leaves no temporary file"

    # camlib.train's reader rebuilds the network from the same file.
    stored = load_checkpoint(result.checkpoint)
    assert isinstance(stored.model, VGG16GAP) and stored.config == {"num_classes": 3, "freeze_backbone": False}
    assert stored.class_names == list(WNIDS) and stored.data_source.startswith("ImageFolder ")
    trained = result.model.state_dict()
    assert all(torch.equal(value, trained[key]) for key, value in stored.model.state_dict().items())


def test_resuming_continues_from_the_saved_step(two_steps, tmp_path, capsys):
    config, first = two_steps
    output = tmp_path / "resumed.pt"
    shutil.copy(first.checkpoint, output)
    result = finetune(replace(config, output=output, max_steps=10, save_every=1, progress=True))
    assert result.resumed_from_step == 2 and result.steps == 3, "one step was left of the one epoch asked for"
    assert f"resuming from {output}: epoch 1, step 2" in capsys.readouterr().out
    # The unfinished epoch's record goes on to the end of the epoch, rather than a second record starting.
    (record,) = result.history
    assert record["steps"] == 3 and record["images"] == 6 and record["complete"] is True
    payload = torch.load(output, weights_only=True)
    assert (payload["step"], payload["epoch"], payload["epoch_samples"]) == (3, 1, 0)
    assert payload["history"]["train_loss"] == [record["loss"]]  # camlib.train.History's lists, finished epochs
    assert payload["scheduler"]["last_epoch"] == 1
    # The weights moved on from the stored ones.
    before = first.model.classifier.weight.detach()
    assert not torch.equal(result.model.classifier.weight.detach(), before)


def test_a_run_that_is_done_does_nothing(two_steps, tmp_path, capsys):
    config, first = two_steps
    output = tmp_path / "done.pt"
    shutil.copy(first.checkpoint, output)
    result = finetune(replace(config, output=output, max_steps=2, progress=True))
    assert result.steps == 2 and "nothing to do" in capsys.readouterr().out
    assert all(torch.equal(a, b) for a, b in zip(result.model.state_dict().values(),
                                                 first.model.state_dict().values()))


def test_resuming_with_other_classes_is_refused_and_names_the_difference(two_steps):
    config, result = two_steps
    before = result.checkpoint.stat().st_mtime_ns
    with pytest.raises(FinetuneError, match=r"cannot resume .*3 classes \(asked: 2\); only in the checkpoint: n014848"):
        finetune(replace(config, classes=["n01440764", "n01443537"], max_steps=3))
    with pytest.raises(FinetuneError, match=r"freeze_backbone=False \(asked: True\)"):
        finetune(replace(config, freeze_backbone=True, max_steps=3))
    assert result.checkpoint.stat().st_mtime_ns == before, "a refused resume leaves the checkpoint alone"


def test_the_sampler_resumes_an_epoch_where_it_stopped():
    dataset = list(range(11))
    for world in (1, 2):
        for rank in range(world):
            whole = _ResumableSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=3)
            resumed = _ResumableSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=3)
            whole.set_epoch(4), resumed.set_epoch(4)
            resumed.skip = 2
            assert list(resumed) == list(whole)[2:] and len(resumed) == len(whole) - 2


# --------------------------------------------------------------------------------------
# Errors and the command line
# --------------------------------------------------------------------------------------


def test_a_missing_data_folder_says_what_layout_is_expected(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"does not exist.*train/<wnid>/\*\.JPEG.*val/<wnid>.*imagenette"):
        finetune(_small(tmp_path / "nowhere", tmp_path / "out.pt"))
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "n01440764").mkdir()
    with pytest.raises(DataNotFoundError, match=r"has no train/ folder \(it holds: n01440764\)"):
        finetune(_small(tmp_path / "flat", tmp_path / "out.pt"))


def test_missing_imagenette_says_how_to_download_it(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"Imagenette \(160px\) is not under .*--download"):
        finetune(_small("imagenette", tmp_path / "out.pt", root=tmp_path, imagenette_size="160px"))


def test_an_unknown_class_lists_the_available_ones(data, tmp_path):
    with pytest.raises(FinetuneError, match=r"unknown class 'n01440765'.*has n01440764, n01443537, n01484850.*"
                                            r"did you mean 'n01440764'"):
        finetune(_small(data, tmp_path / "out.pt", classes=["n01443537", "n01440765"]))
    assert not (tmp_path / "out.pt").exists()


def test_the_command_line_maps_onto_the_config_and_reports_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "torchrun --nproc_per_node=8 -m camlib.train.finetune" in help_text and "--rdzv-endpoint" in help_text
    for f in fields(FinetuneConfig):
        assert f"--{f.name.replace('_', '-')}" in help_text
    assert "--no-amp" in help_text and "--no-channels-last" in help_text

    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(tmp_path / "missing"), "--output", str(tmp_path / "out.pt"), "--classes", "a,b"])
    assert exit_info.value.code == 2
    assert f"camlib.train.finetune: error: {tmp_path / 'missing'} does not exist" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# Two processes under torchrun
# --------------------------------------------------------------------------------------


# Each rank runs finetune() and saves the parameters it ends with: the test's own driver, not an option of camlib.
RANK_DRIVER = """import os, sys
import torch
from camlib.train.finetune import FinetuneConfig, finetune
data, output, digests = sys.argv[1:4]
result = finetune(FinetuneConfig(data=data, output=output, device="cpu", image_size=16, batch_size=2,
                                 images_per_class=2, max_steps=2, workers=0, progress=False))
state = {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()}
os.makedirs(digests, exist_ok=True)
torch.save(state, os.path.join(digests, "rank" + os.environ["RANK"] + ".pt"))
"""


def test_torchrun_two_processes_on_cpu_train_the_same_parameters(data, tmp_path):
    """DDP with gloo: a few steps, a checkpoint that loads, and equal parameters on both ranks."""
    output, digests, driver = tmp_path / "ddp.pt", tmp_path / "digests", tmp_path / "rank_driver.py"
    driver.write_text(RANK_DRIVER)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(driver), str(data), str(output), str(digests)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.pop("CAMLIB_DEVICE", None)
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, f"torchrun failed:\n{run.stdout}\n{run.stderr}"

    stored = load_checkpoint(output)  # weights_only=True inside
    payload = torch.load(output, map_location="cpu", weights_only=True)
    assert payload["step"] == 2 and payload["world_size"] == 2
    # The DistributedSampler gives each rank 3 of the 6 images (batches of 2 and 1): two steps make the epoch,
    # and the record sums both ranks' images over the process group.
    (record,) = payload["epoch_records"]
    assert record["complete"] is True and record["images"] == 6 and payload["epoch"] == 1
    assert math.isfinite(record["loss"]) and record["val_accuracy"] is not None

    rank0 = torch.load(digests / "rank0.pt", weights_only=True)
    rank1 = torch.load(digests / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys() == stored.model.state_dict().keys()
    for key, value in rank0.items():
        assert torch.equal(value, rank1[key]), f"{key} differs between ranks"
        assert torch.equal(value, stored.model.state_dict()[key]), f"{key} differs from the checkpoint"

    seed_everything(0)  # what finetune builds before training (seed=0): training moved the weights
    initial = vgg16_gap(num_classes=len(WNIDS))
    assert not torch.equal(initial.classifier.weight, rank0["classifier.weight"])
    assert not torch.equal(initial.features[0].weight, rank0["features.0.weight"])


def test_pretrained_weights_that_cannot_be_downloaded_say_how_to_work_offline(data, tmp_path, monkeypatch):
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    config = _small(data, tmp_path / "x.pt", weights="DEFAULT")
    with pytest.raises(FinetuneError, match=rf"could not get the VGG16 weights VGG16_Weights.IMAGENET1K_V1 .*no network"
                                            rf".*download {VGG16_Weights.IMAGENET1K_V1.url} and put vgg16-397923af.pth "
                                            rf"in {tmp_path / 'hub' / 'checkpoints'}"):
        finetune(config)
    assert not (tmp_path / "x.pt").exists()


# --------------------------------------------------------------------------------------
# Faults: silent servers, corrupt files, settings that cannot work -- all found before training
# --------------------------------------------------------------------------------------


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


@pytest.fixture
def no_build(monkeypatch):
    """Building the network fails the test: a setting that cannot work must be refused before that."""
    def build(**kwargs):
        raise AssertionError(f"the network was built ({kwargs}) before the settings were checked")

    monkeypatch.setitem(camlib.train.finetune.FINETUNE_ARCHITECTURES, "vgg16_gap", build)


def test_weights_default_on_a_silent_network_fail_fast_saying_what_to_download(data, tmp_path, hub, silent_server,
                                                                              monkeypatch, capsys):
    url = f"{silent_server}/vgg16-397923af.pth"
    monkeypatch.setattr(VGG16_Weights.IMAGENET1K_V1.value, "url", url)
    start = time.monotonic()
    code = main(["--data", str(data), "--output", str(tmp_path / "out.pt"), "--weights", "DEFAULT", "--device", "cpu",
                 "--download-timeout", "0.5", "--no-progress"])
    assert code == 2 and time.monotonic() - start < 10
    error = capsys.readouterr().err
    assert "timed out" in error and f"download {url} and put vgg16-397923af.pth in {hub}" in error
    assert not (tmp_path / "out.pt").exists()


def test_imagenette_downloads_time_out_and_say_what_to_fetch(tmp_path, silent_server, monkeypatch):
    url = f"{silent_server}/imagenette2-160.tgz"
    monkeypatch.setitem(datasets.Imagenette._ARCHIVES, "160px", (url, "0" * 32))
    start = time.monotonic()
    with pytest.raises(DataNotFoundError, match=rf"could not download Imagenette .*download {url} and extract it into "
                                                rf"{tmp_path}"):
        finetune(_small("imagenette", tmp_path / "out.pt", root=tmp_path, imagenette_size="160px", download=True,
                        download_timeout=0.5))
    assert time.monotonic() - start < 10


def _backbone_bytes() -> bytes:
    torch.manual_seed(5)
    state = {f"features.{key}": value for key, value in vgg16_gap(num_classes=1).backbone.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def test_cached_weights_are_hash_checked_and_read_without_network(data, tmp_path, hub, monkeypatch):
    content = _backbone_bytes()
    prefix = hashlib.sha256(content).hexdigest()[:8]
    monkeypatch.setattr(VGG16_Weights.IMAGENET1K_V1.value, "url", f"https://example.invalid/vgg16-{prefix}.pth")
    hub.mkdir(parents=True)
    (hub / f"vgg16-{prefix}.pth").write_bytes(content)
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("no download is needed"))
    result = finetune(_small(data, tmp_path / "out.pt", weights="VGG16_Weights.DEFAULT", max_steps=1,
                             freeze_backbone=True))
    state = torch.load(hub / f"vgg16-{prefix}.pth", weights_only=True)
    assert torch.equal(result.model.features[0].weight, state["features.0.weight"])  # frozen: still the file's
    assert torch.load(result.checkpoint, weights_only=True)["finetune_config"]["weights"] == "VGG16_Weights.DEFAULT"


def test_a_corrupt_file_in_torchs_cache_is_named_not_unpickled(data, tmp_path, hub, monkeypatch):
    hub.mkdir(parents=True)
    (hub / "vgg16-397923af.pth").write_bytes(b"\x80\x02 half a download")
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(FinetuneError, match=rf"the cached {hub / 'vgg16-397923af.pth'} is corrupt .*moved it to "
                                            r"vgg16-397923af\.pth\.corrupt.*download https://"):
        finetune(_small(data, tmp_path / "out.pt", weights="DEFAULT"))
    assert (hub / "vgg16-397923af.pth.corrupt").read_bytes() == b"\x80\x02 half a download"


@pytest.mark.parametrize(
    "arguments, match",
    [
        (["--lr", "-0.1"], r"lr \(--lr\) must be a number > 0, got -0\.1"),
        (["--lr", "nan"], r"--lr\) must be a number > 0, got nan"),
        (["--lr", "0"], r"--lr\) must be a number > 0"),
        (["--epochs", "0"], r"--epochs\) must be an integer >= 1, got 0"),
        (["--batch-size", "0"], r"--batch-size\) must be an integer >= 1"),
        (["--workers", "-1"], r"--workers\) must be an integer >= 0, got -1"),
        (["--image-size", "8"], r"--image-size\) must be an integer >= 16, got 8"),
        (["--max-steps", "0"], r"--max-steps\) must be an integer >= 1 or None"),
        (["--momentum", "-1"], r"--momentum\) must be a number >= 0"),
        (["--lr-gamma", "0"], r"--lr-gamma\) must be a number > 0"),
        (["--download-timeout", "0"], r"--download-timeout\) must be a number > 0"),
        (["--weights", "DEFAULTT"], r"--weights\)='DEFAULTT' is neither a name of torchvision's VGG16 weights "
                                    r"\(IMAGENET1K_V1, IMAGENET1K_FEATURES, DEFAULT\) nor an existing file: "
                                    r"did you mean 'DEFAULT'\?"),
        (["--weights", "missing.pth"], r"neither a name .* nor an existing file"),
        (["--device", "cudaa"], r"--device\)='cudaa' is not a device"),
        (["--classes", ","], r"--classes\) is empty"),
    ],
)
def test_settings_that_cannot_work_are_refused_before_anything_is_built(data, tmp_path, no_build, capsys, arguments,
                                                                       match):
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(data), "--output", str(tmp_path / "out.pt"), "--device", "cpu", *arguments])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: python -m camlib.train.finetune") and "camlib.train.finetune: error: " in error
    assert len(re.findall(match, error)) == 1, error
    assert not (tmp_path / "out.pt").exists()


def test_an_output_that_cannot_be_written_is_found_before_training(data, tmp_path, no_build, capsys):
    (tmp_path / "a_file").write_text("notes")
    for output, match in [(tmp_path / "a_file" / "out.pt", r"--output\): cannot write a checkpoint in .*a_file"),
                          (tmp_path, r"--output\)=.* is a folder: give a file name in it")]:
        with pytest.raises(SystemExit):
            main(["--data", str(data), "--output", str(output), "--device", "cpu"])
        assert re.search(match, capsys.readouterr().err)
    assert (tmp_path / "a_file").read_text() == "notes"


def test_python_settings_of_the_wrong_type_are_named(data, tmp_path, no_build):
    with pytest.raises(FinetuneError, match=r"epochs \(--epochs\) must be an integer >= 1, got '3'"):
        finetune(_small(data, tmp_path / "out.pt", epochs="3"))
    with pytest.raises(FinetuneError, match=r"lr \(--lr\) must be a number > 0, got inf"):
        finetune(_small(data, tmp_path / "out.pt", lr=float("inf")))
    with pytest.raises(FinetuneError, match=r"batch_size \(--batch-size\) must be an integer >= 1, got True"):
        finetune(_small(data, tmp_path / "out.pt", batch_size=True))
    for classes in ([1, 2], 5):
        with pytest.raises(FinetuneError, match=r"classes \(--classes\)=.*: give a list of wnids"):
            finetune(_small(data, tmp_path / "out.pt", classes=classes))
    with pytest.raises(FinetuneError, match=r"classes \(--classes\) is empty"):
        finetune(_small(data, tmp_path / "out.pt", classes=[" "]))
    with pytest.raises(TypeError, match="FinetuneConfig"):
        finetune({"data": data})


def test_a_corrupt_checkpoint_is_refused_and_left_as_it_is(data, tmp_path, two_steps):
    output = tmp_path / "out.pt"
    output.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(FinetuneError, match=r"not a checkpoint readable with weights_only=True .*left as it is"):
        finetune(_small(data, output, max_steps=1))
    assert output.read_bytes() == b"PK\x03\x04 truncated"

    payload = torch.load(two_steps[1].checkpoint, weights_only=True)
    del payload["epoch_records"]
    torch.save(payload, output)
    with pytest.raises(FinetuneError, match=r"not a camlib.train.finetune checkpoint \(it lacks epoch_records\)"):
        finetune(_small(data, output, max_steps=3))

    payload = torch.load(two_steps[1].checkpoint, weights_only=True)
    payload["optimizer"]["param_groups"] = []
    torch.save(payload, output)
    before = output.read_bytes()
    with pytest.raises(FinetuneError, match=rf"cannot resume from {output}: its saved state does not fit .*ValueError"):
        finetune(_small(data, output, max_steps=3))
    assert output.read_bytes() == before


def test_an_unreadable_image_and_an_empty_class_folder_are_named(data, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    broken = sorted((copy / "train" / WNIDS[0]).iterdir())[0]
    broken.write_bytes(b"not a JPEG")
    with pytest.raises(DataNotFoundError, match=rf"cannot read the image {broken} .*delete or replace it"):
        finetune(_small(copy, tmp_path / "out.pt", max_steps=3, images_per_class=None, batch_size=12))
    for image in (copy / "train" / WNIDS[0]).iterdir():
        image.unlink()
    with pytest.raises(DataNotFoundError, match=rf"{copy / 'train'}: .*{WNIDS[0]}.*needs at least one image"):
        finetune(_small(copy, tmp_path / "out.pt"))


@pytest.mark.parametrize("overrides, match", [
    ({"freeze_backbone": "no"}, r"freeze_backbone \(--freeze-backbone\)='no': use True or False"),
    ({"amp": "no"}, r"amp \(--amp\)='no': use True or False \(or None"),
    ({"channels_last": 1}, r"channels_last \(--channels-last\)=1"),
    ({"download": "no"}, r"download \(--download\)='no'"),
    ({"progress": None}, r"progress \(--progress\)=None"),
    ({"seed": 2**80}, r"seed \(--seed\)=\d+ is out of range"),
    ({"seed": -(2**70)}, r"seed \(--seed\) must be an integer >= "),
])
def test_switches_and_the_seed_are_checked_before_anything_runs(data, tmp_path, overrides, match):
    with pytest.raises(FinetuneError, match=match):
        camlib.train.finetune.check_config(_small(data, tmp_path / "out.pt", **overrides))


def test_folders_that_are_files_are_refused_before_training(data, tmp_path):
    (tmp_path / "a_file").write_text("notes")
    with pytest.raises(FinetuneError, match=r"root .*a_file'.*give a folder"):
        camlib.train.finetune.check_config(_small(data, tmp_path / "out.pt", root=tmp_path / "a_file"))


def test_image_transforms_and_precision_check_their_arguments():
    with pytest.raises(ValueError, match="image_size must be an integer >= 1, got 0"):
        camlib.train.finetune.image_transforms(0, train=True)
    with pytest.raises(TypeError, match="image_size must be an integer >= 1, got '224'"):
        camlib.train.finetune.image_transforms("224", train=False)
    assert camlib.train.finetune.precision("cpu", None)[0] is None  # a device name is taken too
