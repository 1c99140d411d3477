"""camlib.pretrained: pretrained_weights and imagenet_classifier: torchvision's cache, or an honest fallback.

No network: torch's hub folder is redirected to a temporary folder, and downloads are replaced by
functions that fail (as they do offline) or that must not be called (when the cache holds the file).
"""

from __future__ import annotations

import socket
from urllib.error import URLError

import pytest
import torch
import torchvision
from torchvision.models import ResNet18_Weights, SqueezeNet1_0_Weights, VGG16_Weights

from camlib.pretrained import (
    WeightsChoice,
    imagenet_classifier,
    pretrained_weights,
    pretrained_weights_for,
    weights_file,
)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub folder: torchvision's cache lives in ``hub/checkpoints``."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.fixture
def offline(monkeypatch):
    """Downloads fail as they do without network; the calls are recorded."""
    calls = []

    def fail(url, dst, hash_prefix=None, progress=True):
        calls.append((url, dst, hash_prefix))
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
    return calls


def test_no_network_gives_none_one_clear_line_and_the_offline_recipe(hub, offline, capsys):
    choice = pretrained_weights("DEFAULT", "vgg16")
    assert isinstance(choice, WeightsChoice) and choice.weights is None
    assert offline == [(VGG16_Weights.IMAGENET1K_V1.url, str(hub / "checkpoints" / "vgg16-397923af.pth"), "397923af")]
    assert choice.reason == (
        "VGG16_Weights.IMAGENET1K_V1 could not be downloaded (URLError: <urlopen error [Errno -2] Name or service "
        "not known>)"
    )
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and printed.startswith(f"no pretrained weights: {choice.reason}. ")
    assert "weights=None" in printed and "mean nothing" in printed
    assert f"put vgg16-397923af.pth in {hub / 'checkpoints'}" in printed  # the way to work offline
    assert not list((hub / "checkpoints").iterdir())  # no partial file left behind


def test_a_cached_file_is_used_without_download(hub, offline, capsys):
    path = weights_file(ResNet18_Weights.IMAGENET1K_V1)
    assert path == hub / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"stand-in")
    weights, reason = pretrained_weights(ResNet18_Weights.DEFAULT)
    assert weights is ResNet18_Weights.IMAGENET1K_V1 and str(path) in reason
    assert offline == []
    assert capsys.readouterr().out == f"pretrained weights: {reason}\n"


def test_cached_weights_build_the_network_offline(hub, offline):
    """The whole offline route: a state dict in the cache -> pretrained_weights -> the torchvision builder."""
    torch.manual_seed(0)
    source = torchvision.models.squeezenet1_0(weights=None)
    path = weights_file(SqueezeNet1_0_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True)
    torch.save(source.state_dict(), path)
    weights, _ = pretrained_weights("SqueezeNet1_0_Weights.DEFAULT", verbose=False)
    model = imagenet_classifier("squeezenet1_0", weights)
    assert not model.training and offline == []
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_a_successful_download_lands_in_the_cache(hub, monkeypatch, capsys):
    def download(url, dst, hash_prefix=None, progress=True):
        assert socket.getdefaulttimeout() == 5  # the timeout is in force during the download
        with open(dst, "wb") as f:
            f.write(b"downloaded")

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    before = socket.getdefaulttimeout()
    weights, reason = pretrained_weights("IMAGENET1K_V1", "resnet18", timeout=5, verbose=False)
    assert weights is ResNet18_Weights.IMAGENET1K_V1 and "downloaded to" in reason
    assert weights_file(weights).read_bytes() == b"downloaded"
    assert socket.getdefaulttimeout() == before  # restored
    assert capsys.readouterr().out == ""


def test_corrupt_download_and_timeouts_fall_back_too(hub, monkeypatch):
    for error in (RuntimeError('invalid hash value (expected "f37072fd", got "0000")'), TimeoutError("timed out")):
        def fail(url, dst, hash_prefix=None, progress=True, error=error):
            raise error

        monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
        weights, reason = pretrained_weights("DEFAULT", "resnet18", verbose=False)
        assert weights is None and type(error).__name__ in reason


def test_download_false_only_looks_in_the_cache(hub, offline):
    weights, reason = pretrained_weights("DEFAULT", "densenet121", download=False, verbose=False)
    assert weights is None and "download=False" in reason and "not in torchvision's cache" in reason
    assert offline == []


def test_none_asks_for_nothing(hub, offline, capsys):
    assert pretrained_weights(None, "vgg16") == (None, "weights=None: random initialization, as asked")
    assert offline == [] and capsys.readouterr().out == (
        "weights=None: random initialization, as asked: a random network, whose predictions and maps mean nothing\n"
    )


def test_names_torchvision_does_not_know_raise(hub, offline):
    with pytest.raises(ValueError, match="VGG16_Weights has no 'IMAGENET1K_V9'; it has IMAGENET1K_V1"):
        pretrained_weights("IMAGENET1K_V9", "vgg16")
    with pytest.raises(ValueError, match="needs the architecture"):
        pretrained_weights("DEFAULT")
    with pytest.raises(TypeError, match="weights=3"):
        pretrained_weights(3)
    assert offline == []


def test_imagenet_classifier_builds_random_networks_in_eval_mode():
    googlenet = imagenet_classifier("googlenet")
    assert not googlenet.training and googlenet.aux1 is None and googlenet.aux2 is None
    resnet = imagenet_classifier("resnet18", None)
    assert not resnet.training and resnet.fc.out_features == 1000



def test_pretrained_weights_for_stops_downloading_after_the_first_failure(hub, offline):
    cached = weights_file(ResNet18_Weights.IMAGENET1K_V1)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"stand-in")
    found, summary = pretrained_weights_for(("vgg16", "resnet18", "densenet121"), "DEFAULT", timeout=1)
    assert list(found) == ["vgg16", "resnet18", "densenet121"]
    assert found == {"vgg16": None, "resnet18": ResNet18_Weights.IMAGENET1K_V1, "densenet121": None}
    assert [url for url, _, _ in offline] == [VGG16_Weights.IMAGENET1K_V1.url]  # one download tried, not two
    assert "\n" not in summary and summary.startswith("No pretrained weights for vgg16, densenet121: ")
    assert "URLError" in summary and "mean nothing" in summary
    assert f"vgg16-397923af.pth, densenet121-a639ec97.pth in {hub / 'checkpoints'}" in summary


def test_pretrained_weights_for_all_cached_or_none(hub, offline):
    for weights in (ResNet18_Weights.IMAGENET1K_V1, VGG16_Weights.IMAGENET1K_V1):
        path = weights_file(weights)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"stand-in")
    found, summary = pretrained_weights_for(["resnet18", "vgg16"])
    assert found == {"resnet18": ResNet18_Weights.IMAGENET1K_V1, "vgg16": VGG16_Weights.IMAGENET1K_V1}
    assert summary == f"pretrained weights for resnet18, vgg16 from {hub / 'checkpoints'}"
    found, summary = pretrained_weights_for(["resnet18"], None)
    assert found == {"resnet18": None} and "random" in summary and offline == []
