"""Pretrained torchvision weights through torchvision's cache, or an honest fallback to ``None``.

Notebook 05 asks for ImageNet weights of VGG16, ResNet-18, GoogLeNet and DenseNet-121
(``pretrained_weights_for``: one call, one summary line). A file
already in ``torch.hub.get_dir()/checkpoints`` is used without any network once its SHA-256 matches
the hash prefix in its name (torch.hub's own check, made at download time only); a corrupt file is
moved aside to ``<name>.corrupt`` and downloaded again. Otherwise the file is downloaded
(hash-checked, as torchvision does), with a timeout. When neither works -- an offline machine, a
firewall -- ``pretrained_weights`` says why in one line and returns ``None``, and the caller goes
on with a random network, whose predictions and maps mean nothing.
"""

from __future__ import annotations

import difflib
import hashlib
import http.client
import itertools
import math
import os
import pickle
import re
import zipfile
from collections.abc import Sequence
from numbers import Real
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum

from camlib.data.download import network_timeout

__all__ = [
    "WeightsChoice", "WeightsUnavailableError", "imagenet_classifier", "offline_recipe", "pretrained_weights",
    "pretrained_weights_for", "resolve_weights", "weights_file",
]

HASH_PREFIX = re.compile(r"-([a-f0-9]+)\.")  # torch.hub's HASH_REGEX: the file name carries a SHA-256 prefix
_HASHED: dict[tuple[str, int, int], bool] = {}  # (path, size, mtime) -> intact: hash each file once per process


class WeightsChoice(NamedTuple):
    """What ``pretrained_weights`` found: the weights (``None`` when there are none) and why, in words."""

    weights: WeightsEnum | None
    reason: str


class WeightsUnavailableError(RuntimeError):
    """Weights asked for explicitly cannot be had: not in torch's cache and not downloadable, or corrupt."""


def weights_file(weights: WeightsEnum) -> Path:
    """Where torchvision keeps the file of ``weights``: ``torch.hub.get_dir()/checkpoints/<file name of its URL>``.

    A file already there is used without any download, so copying the files into this folder
    (or pointing ``$TORCH_HOME`` at a folder whose ``hub/checkpoints`` holds them) is how to work offline.
    """
    if not isinstance(weights, WeightsEnum):
        raise TypeError(f"weights must be a torchvision weights enum member such as ResNet18_Weights.DEFAULT, got "
                        f"{weights!r}; for a name use resolve_weights(name, architecture)")
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def offline_recipe(weights: WeightsEnum) -> str:
    """One sentence: which file to download and where to put it, so torchvision finds it without a network."""
    path = weights_file(weights)
    return f"download {weights.url} and put {path.name} in {path.parent} (torch.hub.get_dir()/checkpoints)"


def _known_architecture(architecture) -> str:
    if not isinstance(architecture, str):
        raise TypeError(f"architecture={architecture!r}: use a torchvision builder name such as 'vgg16' or 'resnet18'")
    known = torchvision.models.list_models()
    if architecture not in known:
        close = difflib.get_close_matches(architecture, known, n=3)
        hint = f"did you mean {', '.join(map(repr, close))}?" if close else "see torchvision.models.list_models()"
        raise ValueError(f"torchvision has no model {architecture!r}: {hint}")
    return architecture


def _member(enum: type[WeightsEnum], name: str) -> WeightsEnum:
    if name not in enum.__members__:
        close = difflib.get_close_matches(name, list(enum.__members__), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{enum.__name__} has no {name!r}{hint}; it has {', '.join(enum.__members__)}")
    return enum[name]


def resolve_weights(weights: WeightsEnum | str, architecture: str | None) -> WeightsEnum:
    """A weights enum member from itself, its full name (``"VGG16_Weights.DEFAULT"``) or a member name
    (``"DEFAULT"``) with ``architecture``. Unknown names raise ``ValueError`` with the names that exist."""
    if isinstance(weights, WeightsEnum):
        if architecture is None:
            return weights
        expected = torchvision.models.get_model_weights(_known_architecture(architecture))
        if not isinstance(weights, expected):
            raise ValueError(f"{weights} are not weights of {architecture}: use one of {expected.__name__}'s "
                             f"({', '.join(expected.__members__)}), or the architecture they belong to")
        return weights
    if not isinstance(weights, str):
        raise TypeError(f"weights={weights!r}: use None, a torchvision weights enum member, or its name")
    if "." in weights:  # "ResNet18_Weights.DEFAULT"
        enum_name, _, member = weights.partition(".")
        enums = {type(w).__name__: type(w) for name in torchvision.models.list_models()
                 for w in torchvision.models.get_model_weights(name)}
        if enum_name not in enums:
            close = difflib.get_close_matches(enum_name, list(enums), n=1)
            raise ValueError(f"weights={weights!r}: torchvision has no weights enum {enum_name!r}"
                             + (f" (did you mean {close[0]!r}?)" if close else ""))
        return _member(enums[enum_name], member)
    if architecture is None:
        raise ValueError(
            f"weights={weights!r} needs the architecture it belongs to, e.g. pretrained_weights({weights!r}, "
            "'vgg16'), or the full name such as 'VGG16_Weights.DEFAULT'"
        )
    return _member(torchvision.models.get_model_weights(_known_architecture(architecture)), weights)


def _check_timeout(timeout) -> None:
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, Real)
                                or not math.isfinite(timeout) or timeout <= 0):
        raise ValueError(f"timeout={timeout!r}: use a positive number of seconds, or None to wait forever")


def _corruption(path: Path) -> str | None:
    """Why the cached file cannot be what its name says (None: it can): empty, or a SHA-256 that does not
    begin with the hash prefix in its name (a truncated download, a disk error, another file copied there)."""
    stat = path.stat()
    if stat.st_size == 0:
        return "it is empty"
    match = HASH_PREFIX.search(path.name)
    if match is None:
        return None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHED:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _HASHED[key] = digest.hexdigest().startswith(match.group(1))
    return None if _HASHED[key] else f"its SHA-256 does not begin with {match.group(1)}, the hash in its name"


def _move_aside(path: Path) -> str:
    """Rename a corrupt cache file out of torchvision's way (nothing deleted); say where it went."""
    for k in itertools.count():
        target = path.with_name(f"{path.name}.corrupt{k or ''}")
        if not target.exists():
            break
    try:
        path.rename(target)
    except OSError as error:
        return f"it could not be moved aside ({error}): delete it"
    return f"moved it to {target.name}"


def pretrained_weights(
    weights: WeightsEnum | str | None,
    architecture: str | None = None,
    *,
    download: bool = True,
    timeout: float | None = 30.0,
    verbose: bool = True,
) -> WeightsChoice:
    """torchvision weights when their file is in torch's cache or can be downloaded into it; else ``None``.

    Args:
        weights: a weights enum member (``VGG16_Weights.DEFAULT``), its full name
            (``"VGG16_Weights.DEFAULT"``), a member name (``"DEFAULT"``, ``"IMAGENET1K_V1"``) together
            with ``architecture``, or ``None`` (random initialization asked for: nothing is tried).
        architecture: a torchvision builder name (``"vgg16"``, ``"resnet18"``, ...), for member names.
        download: try to download a missing file (``torch.hub.download_url_to_file``, SHA-256 prefix
            checked as torchvision checks it). ``False`` only looks in the cache.
        timeout: seconds a silent connection may stall before the download counts as failed
            (``None``: wait as long as the system does).
        verbose: print one line: where the weights are, or why there are none.

    Returns:
        ``WeightsChoice(weights, reason)``. ``weights`` can go straight to the torchvision builder
        (or ``vgg16_gap``), which then reads the cached file without a download. When the file
        cannot be had (no network, a firewall, a corrupt download), ``weights`` is ``None`` and
        ``reason`` says what failed; the caller goes on with random weights. A cached file whose
        SHA-256 does not match its name is moved aside (``<name>.corrupt``) and downloaded again.

    Raises:
        ValueError, TypeError: a name torchvision does not know (a typo is not a network problem),
            or a timeout that is not a positive number.
    """
    _check_timeout(timeout)
    if weights is None:
        choice = WeightsChoice(None, "weights=None: random initialization, as asked")
    else:
        choice = _find(resolve_weights(weights, architecture), download, timeout, verbose)
    if verbose:
        if choice.weights is not None:
            print(f"pretrained weights: {choice.reason}")
        elif weights is None:
            print(f"{choice.reason}: a random network, whose predictions and maps mean nothing")
        else:
            print(f"no pretrained weights: {choice.reason}. Continuing with weights=None: a random network, whose "
                  f"predictions and maps mean nothing. To work offline, "
                  f"{offline_recipe(resolve_weights(weights, architecture))}")
    return choice


def _find(weights: WeightsEnum, download: bool, timeout: float | None, progress: bool) -> WeightsChoice:
    path = weights_file(weights)
    corrupt = ""
    if path.is_file():
        problem = _corruption(path)
        if problem is None:
            return WeightsChoice(weights, f"{weights} from torchvision's cache, {path}")
        corrupt = f"the cached {path} is corrupt ({problem}); {_move_aside(path)}. "
    if not download:
        return WeightsChoice(None, f"{corrupt}{weights} is not in torchvision's cache ({path}) and download=False")
    choice = _download(weights, path, timeout, progress)
    return choice._replace(reason=corrupt + choice.reason)


def pretrained_weights_for(
    architectures: Sequence[str],
    weights: WeightsEnum | str | None = "DEFAULT",
    *,
    timeout: float | None = 30.0,
) -> tuple[dict[str, WeightsEnum | None], str]:
    """``pretrained_weights`` for several networks, trying downloads only until the first one fails.

    A machine that cannot download one file usually cannot download the next either: after the first
    failure the remaining networks are only looked up in torchvision's cache, so an offline run costs
    one timeout, not one per network.

    Args:
        architectures: torchvision builder names (``"vgg16"``, ``"resnet18"``, ...).
        weights: a member name such as ``"DEFAULT"`` or ``"IMAGENET1K_V1"``, used for every network, or
            ``None`` (random networks: nothing is tried).
        timeout: as in ``pretrained_weights``.

    Returns:
        ``(found, summary)``: ``{architecture: weights or None}`` in the order given (each value can go
        straight to ``imagenet_classifier``), and one line saying where the weights are, or which are
        missing, why, and where to put their files to work offline.
    """
    if isinstance(architectures, str) or not all(isinstance(a, str) for a in architectures):
        raise TypeError(f"architectures={architectures!r}: use a list of builder names, e.g. ['vgg16', 'resnet18']")
    architectures = list(dict.fromkeys(architectures))
    if not architectures:
        raise ValueError("architectures is empty: name at least one torchvision builder, e.g. ['resnet18']")
    _check_timeout(timeout)
    # Every name is checked before anything is downloaded: a typo in the last one costs no download time.
    wanted = {a: None if weights is None else resolve_weights(weights, a) for a in map(_known_architecture,
                                                                                        architectures)}
    found: dict[str, WeightsEnum | None] = {}
    failure = None
    for architecture, resolved in wanted.items():
        choice = pretrained_weights(resolved, download=failure is None, timeout=timeout, verbose=False)
        found[architecture] = choice.weights
        if choice.weights is None and failure is None and weights is not None:
            failure = choice.reason
    missing = [architecture for architecture, w in found.items() if w is None]
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    if weights is None:
        summary = "weights=None: every network is random (nothing downloaded); its predictions and maps mean nothing."
    elif not missing:
        summary = f"pretrained weights for {', '.join(found)} from {folder}"
    else:
        urls = [wanted[architecture].url for architecture in missing]
        summary = (f"No pretrained weights for {', '.join(missing)}: {failure}. Continuing with weights=None: random "
                   "networks, whose predictions and maps mean nothing; every code path still runs. Offline: download "
                   f"{', '.join(urls)} and put them in {folder}")
    return found, summary


def _download(weights: WeightsEnum, path: Path, timeout: float | None, progress: bool) -> WeightsChoice:
    match = HASH_PREFIX.search(path.name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with network_timeout(timeout):  # urlopen inside torch.hub takes no timeout of its own
            torch.hub.download_url_to_file(weights.url, str(path), match.group(1) if match else None, progress=progress)
    except (OSError, RuntimeError, ValueError, http.client.HTTPException) as error:  # URLError, timeouts, hash
        message = str(error).strip() or "no message"
        return WeightsChoice(None, f"{weights} could not be downloaded ({type(error).__name__}: {message})")
    return WeightsChoice(weights, f"{weights}, downloaded to {path}")


# Builders that torchvision calls with no argument but num_classes when it loads weights, and whose files' keys
# are the model's own (DenseNet's are renamed on loading, GoogLeNet's builder takes more arguments).
_PLAIN_BUILDERS = ("vgg", "resnet", "squeezenet")


def _network_on_its_file(architecture: str, weights: WeightsEnum) -> nn.Module:
    """The network whose parameters *are* the cached file's tensors, memory-mapped. torchvision builds a
    random network and then copies the file into it, which holds two copies for a moment (1.1 GB for
    VGG16); here the network is built on the meta device (no memory) and the file's tensors assigned."""
    with torch.device("meta"):
        model = torchvision.models.get_model(architecture, weights=None, num_classes=len(weights.meta["categories"]))
    state = torch.load(weights_file(weights), map_location="cpu", mmap=True, weights_only=True)
    model.load_state_dict(state, assign=True)
    return model.eval()


def imagenet_classifier(
    architecture: str, weights: WeightsEnum | str | None = None, *, timeout: float | None = 30.0
) -> nn.Module:
    """A torchvision ImageNet classifier by builder name (``"resnet18"``, ``"googlenet"``, ``"densenet121"``,
    ``"vgg16"``, ...), with ``weights`` (from ``pretrained_weights``, or a name as ``pretrained_weights`` takes
    it) or random, in eval mode.

    Weights that are not in torch's cache are downloaded first, with ``timeout``; when that fails, or the
    cached file is corrupt, ``WeightsUnavailableError`` says what to download and where to put it.
    GoogLeNet is built without its auxiliary classifiers (they only serve training), as torchvision
    builds it for pretrained weights, and without the warning about its initialization.
    """
    _known_architecture(architecture)
    extra = {}
    if weights is None:
        if architecture == "googlenet":
            extra = {"aux_logits": False, "init_weights": True}
        return torchvision.models.get_model(architecture, weights=None, **extra).eval()
    weights = resolve_weights(weights, architecture)  # also refuses another network's weights
    choice = pretrained_weights(weights, timeout=timeout, verbose=False)
    if choice.weights is None:
        raise WeightsUnavailableError(f"{choice.reason}. To work offline, {offline_recipe(weights)}; or pass "
                                      "weights=None for a random network")
    try:  # the file is cached and its hash checked: torchvision reads it without a network
        with network_timeout(timeout):
            if architecture.startswith(_PLAIN_BUILDERS):
                return _network_on_its_file(architecture, weights)
            return torchvision.models.get_model(architecture, weights=weights).eval()
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, RuntimeError, KeyError) as error:
        raise WeightsUnavailableError(
            f"{weights_file(weights)} cannot be loaded ({type(error).__name__}: {str(error).splitlines()[0]}); "
            f"delete it, then {offline_recipe(weights)} again, or let pretrained_weights download it"
        ) from error
