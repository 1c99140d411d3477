"""camlib.models.pretrained: pretrained_weights and imagenet_classifier: torchvision's cache, or an honest fallback.

No network: torch's hub folder is redirected to a temporary folder, and downloads are replaced by
functions that fail (as they do offline) or that must not be called (when the cache holds the file),
or go to a local server that accepts connections and never answers. A cached file is only used when
its SHA-256 begins with the hash in its name, so stand-in files are cached under a URL patched to
carry their own hash (``_cache``).
"""

from __future__ import annotations

import hashlib
import io
import socket
import time
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision
from torchvision.models import ResNet18_Weights, SqueezeNet1_0_Weights, VGG16_Weights

from camlib.models.pretrained import (
    WeightsChoice,
    WeightsUnavailableError,
    imagenet_classifier,
    pretrained_weights,
    pretrained_weights_for,
    resolve_weights,
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


def _cache(monkeypatch, weights, content: bytes) -> Path:
    """Put ``content`` in the cache under a URL whose hash prefix is its own SHA-256's, as torchvision names files."""
    stem = Path(weights.url).name.split("-")[0]
    prefix = hashlib.sha256(content).hexdigest()[:8]
    monkeypatch.setattr(weights.value, "url", f"https://download.pytorch.org/models/{stem}-{prefix}.pth")
    path = weights_file(weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


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


def test_a_cached_file_is_used_without_download(hub, offline, capsys, monkeypatch):
    assert weights_file(ResNet18_Weights.IMAGENET1K_V1) == hub / "checkpoints" / "resnet18-f37072fd.pth"
    path = _cache(monkeypatch, ResNet18_Weights.IMAGENET1K_V1, b"stand-in")
    weights, reason = pretrained_weights(ResNet18_Weights.DEFAULT)
    assert weights is ResNet18_Weights.IMAGENET1K_V1 and str(path) in reason
    assert offline == []
    assert capsys.readouterr().out == f"pretrained weights: {reason}\n"


def test_cached_weights_build_the_network_offline(hub, offline, monkeypatch):
    """The whole offline route: a state dict in the cache -> pretrained_weights -> the torchvision builder."""
    torch.manual_seed(0)
    source = torchvision.models.squeezenet1_0(weights=None)
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    _cache(monkeypatch, SqueezeNet1_0_Weights.IMAGENET1K_V1, buffer.getvalue())
    weights, _ = pretrained_weights("SqueezeNet1_0_Weights.DEFAULT", verbose=False)
    model = imagenet_classifier("squeezenet1_0", weights)
    assert not model.training and offline == []
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_vgg_and_resnet_weights_are_the_files_own_tensors_not_a_copy(hub, offline, monkeypatch):
    """Built on the meta device and assigned the memory-mapped file's tensors (VGG16: no second
    550 MB copy while loading); buffers such as BatchNorm's running statistics come along."""
    torch.manual_seed(1)
    source = torchvision.models.resnet18(weights=None)
    source.bn1.running_mean.uniform_()
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    _cache(monkeypatch, ResNet18_Weights.IMAGENET1K_V1, buffer.getvalue())
    model = imagenet_classifier("resnet18", ResNet18_Weights.DEFAULT)
    assert not model.training and all(t.device.type == "cpu" for t in model.state_dict().values())
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(image), source.eval()(image), atol=1e-5)


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
    with pytest.raises(ValueError, match="VGG16_Weights has no 'IMAGENET1K_V9'.*; it has IMAGENET1K_V1"):
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


def test_pretrained_weights_for_stops_downloading_after_the_first_failure(hub, offline, monkeypatch):
    _cache(monkeypatch, ResNet18_Weights.IMAGENET1K_V1, b"stand-in")
    found, summary = pretrained_weights_for(("vgg16", "resnet18", "densenet121"), "DEFAULT", timeout=1)
    assert list(found) == ["vgg16", "resnet18", "densenet121"]
    assert found == {"vgg16": None, "resnet18": ResNet18_Weights.IMAGENET1K_V1, "densenet121": None}
    assert [url for url, _, _ in offline] == [VGG16_Weights.IMAGENET1K_V1.url]  # one download tried, not two
    assert "\n" not in summary and summary.startswith("No pretrained weights for vgg16, densenet121: ")
    assert "URLError" in summary and "mean nothing" in summary
    assert (f"download {VGG16_Weights.IMAGENET1K_V1.url}, {torchvision.models.DenseNet121_Weights.DEFAULT.url} "
            f"and put them in {hub / 'checkpoints'}") in summary


def test_pretrained_weights_for_all_cached_or_none(hub, offline, monkeypatch):
    for weights in (ResNet18_Weights.IMAGENET1K_V1, VGG16_Weights.IMAGENET1K_V1):
        _cache(monkeypatch, weights, f"stand-in for {weights}".encode())
    found, summary = pretrained_weights_for(["resnet18", "vgg16"])
    assert found == {"resnet18": ResNet18_Weights.IMAGENET1K_V1, "vgg16": VGG16_Weights.IMAGENET1K_V1}
    assert summary == f"pretrained weights for resnet18, vgg16 from {hub / 'checkpoints'}"
    found, summary = pretrained_weights_for(["resnet18"], None)
    assert found == {"resnet18": None} and "random" in summary and offline == []


# --------------------------------------------------------------------------------------
# Faults: silent servers, corrupt files in the cache, names and arguments that cannot work
# --------------------------------------------------------------------------------------


def test_a_silent_server_costs_one_timeout_not_forever(hub, silent_server, monkeypatch):
    monkeypatch.setattr(VGG16_Weights.IMAGENET1K_V1.value, "url", f"{silent_server}/vgg16-397923af.pth")
    start = time.monotonic()
    weights, reason = pretrained_weights("DEFAULT", "vgg16", timeout=0.5, verbose=False)
    assert time.monotonic() - start < 10 and weights is None
    assert "could not be downloaded" in reason and "timed out" in reason
    assert not list((hub / "checkpoints").iterdir())  # no partial file left behind


def test_imagenet_classifier_downloads_with_a_timeout_and_says_what_to_fetch(hub, silent_server, monkeypatch):
    url = f"{silent_server}/resnet18-f37072fd.pth"
    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.value, "url", url)
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match=rf"timed out.*download {url} and put resnet18-f37072fd\.pth in "
                                                      rf"{hub / 'checkpoints'}.*weights=None"):
        imagenet_classifier("resnet18", ResNet18_Weights.DEFAULT, timeout=0.5)
    assert time.monotonic() - start < 10


def test_a_corrupt_cached_file_is_moved_aside_not_reported_as_found(hub, offline, capsys):
    path = weights_file(VGG16_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a download")
    weights, reason = pretrained_weights("DEFAULT", "vgg16")
    assert weights is None
    assert f"the cached {path} is corrupt (its SHA-256 does not begin with 397923af" in reason
    assert "moved it to vgg16-397923af.pth.corrupt" in reason and "could not be downloaded" in reason
    assert len(offline) == 1  # and a fresh download was tried
    assert not path.exists() and (path.parent / "vgg16-397923af.pth.corrupt").read_bytes() == b"half a download"
    assert f"put vgg16-397923af.pth in {path.parent}" in capsys.readouterr().out

    path.write_bytes(b"")  # an empty file too; the first corrupt file is kept, not overwritten
    weights, reason = pretrained_weights("DEFAULT", "vgg16", download=False, verbose=False)
    assert weights is None and "it is empty" in reason and "download=False" in reason
    assert (path.parent / "vgg16-397923af.pth.corrupt1").exists()


def test_a_corrupt_cached_file_is_downloaded_again(hub, monkeypatch):
    path = weights_file(ResNet18_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage")

    def download(url, dst, hash_prefix=None, progress=True):
        Path(dst).write_bytes(b"fresh")

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    weights, reason = pretrained_weights("DEFAULT", "resnet18", verbose=False)
    assert weights is ResNet18_Weights.IMAGENET1K_V1 and "corrupt" in reason and "downloaded to" in reason
    assert path.read_bytes() == b"fresh"


def test_imagenet_classifier_never_hands_a_corrupt_file_to_torch(hub, offline, monkeypatch):
    path = _cache(monkeypatch, ResNet18_Weights.IMAGENET1K_V1, b"not a pickle, but the right hash")
    with pytest.raises(WeightsUnavailableError, match=rf"{path} cannot be loaded .*delete it, then download "):
        imagenet_classifier("resnet18", ResNet18_Weights.DEFAULT)
    garbage = weights_file(VGG16_Weights.IMAGENET1K_V1)
    garbage.write_bytes(b"not a pickle")
    with pytest.raises(WeightsUnavailableError, match=r"is corrupt .*moved it to .*could not be downloaded"):
        imagenet_classifier("vgg16", "DEFAULT")


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: pretrained_weights("DEFAULT", "vgg61"), ValueError, r"no model 'vgg61': did you mean .*'vgg16'"),
        (lambda: pretrained_weights("DEFAULT", 16), TypeError, r"architecture=16"),
        (lambda: pretrained_weights("DEFAULTT", "vgg16"), ValueError, r"no 'DEFAULTT' \(did you mean 'DEFAULT'\?\)"),
        (lambda: pretrained_weights("VGG61_Weights.DEFAULT"), ValueError, r"no weights enum 'VGG61_Weights' \(did you"),
        (lambda: pretrained_weights("VGG16_Weights.V1"), ValueError, r"VGG16_Weights has no 'V1'"),
        (lambda: pretrained_weights("DEFAULT", "vgg16", timeout=0), ValueError, r"timeout=0: use a positive"),
        (lambda: pretrained_weights("DEFAULT", "vgg16", timeout=float("nan")), ValueError, r"timeout=nan"),
        (lambda: pretrained_weights_for("vgg16"), TypeError, r"a list of builder names"),
        (lambda: pretrained_weights_for([]), ValueError, r"architectures is empty"),
        (lambda: pretrained_weights_for(["vgg16", "resnet81"]), ValueError, r"did you mean 'resnet18'"),
        (lambda: imagenet_classifier("resnet81"), ValueError, r"no model 'resnet81'"),
        (lambda: imagenet_classifier("resnet18", VGG16_Weights.DEFAULT), ValueError, r"not weights of resnet18"),
        (lambda: resolve_weights(None, "vgg16"), TypeError, r"weights=None"),
        (lambda: pretrained_weights(VGG16_Weights.DEFAULT, "resnet18"), ValueError, r"not weights of resnet18"),
    ],
)
def test_names_and_arguments_that_cannot_work_are_refused_before_any_download(hub, offline, call, error, match):
    with pytest.raises(error, match=match):
        call()
    assert offline == []


@pytest.mark.parametrize("weights", ["DEFAULT", None, 5])
def test_weights_file_names_a_weights_name_that_is_no_enum_member(weights):
    from camlib.models.pretrained import offline_recipe

    for call in (weights_file, offline_recipe):
        with pytest.raises(TypeError, match="weights must be a torchvision weights enum member .*resolve_weights"):
            call(weights)
