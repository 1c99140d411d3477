"""Pretrained torchvision weights through torchvision's cache, or an honest fallback to ``None``.

Notebook 05 asks for ImageNet weights of VGG16, ResNet-18, GoogLeNet and DenseNet-121
(``pretrained_weights_for``: one call, one summary line). A file
already in ``torch.hub.get_dir()/checkpoints`` is used without any network; otherwise it is
downloaded (hash-checked, as torchvision does). When neither works -- an offline machine, a
firewall -- ``pretrained_weights`` says why in one line and returns ``None``, and the caller goes
on with a random network, whose predictions and maps mean nothing.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum


class WeightsChoice(NamedTuple):
    """What ``pretrained_weights`` found: the weights (``None`` when there are none) and why, in words."""

    weights: WeightsEnum | None
    reason: str


def weights_file(weights: WeightsEnum) -> Path:
    """Where torchvision keeps the file of ``weights``: ``torch.hub.get_dir()/checkpoints/<file name of its URL>``.

    A file already there is used without any download, so copying the files into this folder
    (or pointing ``$TORCH_HOME`` at a folder whose ``hub/checkpoints`` holds them) is how to work offline.
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def resolve_weights(weights: WeightsEnum | str, architecture: str | None) -> WeightsEnum:
    if isinstance(weights, WeightsEnum):
        return weights
    if not isinstance(weights, str):
        raise TypeError(f"weights={weights!r}: use None, a torchvision weights enum member, or its name")
    if "." in weights:  # "ResNet18_Weights.DEFAULT"
        return torchvision.models.get_weight(weights)
    if architecture is None:
        raise ValueError(
            f"weights={weights!r} needs the architecture it belongs to, e.g. pretrained_weights({weights!r}, "
            "'vgg16'), or the full name such as 'VGG16_Weights.DEFAULT'"
        )
    enum = torchvision.models.get_model_weights(architecture)
    if weights not in enum.__members__:
        raise ValueError(f"{enum.__name__} has no {weights!r}; it has {', '.join(enum.__members__)}")
    return enum[weights]


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
        ``reason`` says what failed; the caller goes on with random weights.

    Raises:
        ValueError, TypeError: a name torchvision does not know (a typo is not a network problem).
    """
    if weights is None:
        choice = WeightsChoice(None, "weights=None: random initialization, as asked")
    else:
        resolved = resolve_weights(weights, architecture)
        path = weights_file(resolved)
        if path.is_file():
            choice = WeightsChoice(resolved, f"{resolved} from torchvision's cache, {path}")
        elif not download:
            choice = WeightsChoice(None, f"{resolved} is not in torchvision's cache ({path}) and download=False")
        else:
            choice = _download(resolved, path, timeout, verbose)
    if verbose:
        if choice.weights is not None:
            print(f"pretrained weights: {choice.reason}")
        elif weights is None:
            print(f"{choice.reason}: a random network, whose predictions and maps mean nothing")
        else:
            print(f"no pretrained weights: {choice.reason}. Continuing with weights=None: a random network, whose "
                  f"predictions and maps mean nothing. To work offline, put {path.name} in {path.parent}")
    return choice


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
    found: dict[str, WeightsEnum | None] = {}
    failure = None
    for architecture in architectures:
        choice = pretrained_weights(weights, architecture, download=failure is None, timeout=timeout, verbose=False)
        found[architecture] = choice.weights
        if choice.weights is None and failure is None and weights is not None:
            failure = choice.reason
    missing = [architecture for architecture, w in found.items() if w is None]
    if weights is None:
        summary = "weights=None: every network is random (nothing downloaded); its predictions and maps mean nothing."
    elif not missing:
        folder = weights_file(next(iter(found.values()))).parent if found else Path(torch.hub.get_dir())
        summary = f"pretrained weights for {', '.join(found)} from {folder}"
    else:
        files = [weights_file(resolve_weights(weights, architecture)).name for architecture in missing]
        summary = (f"No pretrained weights for {', '.join(missing)}: {failure}. Continuing with weights=None: random "
                   "networks, whose predictions and maps mean nothing; every code path still runs. Offline: put "
                   f"{', '.join(files)} in {Path(torch.hub.get_dir()) / 'checkpoints'}")
    return found, summary


def _download(weights: WeightsEnum, path: Path, timeout: float | None, progress: bool) -> WeightsChoice:
    match = re.search(r"-([a-f0-9]+)\.", path.name)  # torch.hub's HASH_REGEX: the file name carries a hash prefix
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # urlopen inside torch.hub takes no timeout of its own
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(weights.url, str(path), match.group(1) if match else None, progress=progress)
    except (OSError, RuntimeError, ValueError) as error:  # URLError, HTTPError, timeouts, hash mismatch
        message = str(error).strip() or "no message"
        return WeightsChoice(None, f"{weights} could not be downloaded ({type(error).__name__}: {message})")
    finally:
        socket.setdefaulttimeout(previous)
    return WeightsChoice(weights, f"{weights}, downloaded to {path}")


def imagenet_classifier(architecture: str, weights: WeightsEnum | None = None) -> nn.Module:
    """A torchvision ImageNet classifier by builder name (``"resnet18"``, ``"googlenet"``, ``"densenet121"``,
    ``"vgg16"``, ...), with ``weights`` (from ``pretrained_weights``) or random, in eval mode.

    GoogLeNet is built without its auxiliary classifiers (they only serve training), as torchvision
    builds it for pretrained weights, and without the warning about its initialization.
    """
    extra = {}
    if architecture == "googlenet" and weights is None:
        extra = {"aux_logits": False, "init_weights": True}
    return torchvision.models.get_model(architecture, weights=weights, **extra).eval()
