"""Networks whose last convolutional maps a CAM can read.

``GAPNet`` is the paper's recipe at toy scale: convolutions, then global average pooling
(or global max pooling, for the comparison of notebook 03), then one linear layer. Its
``forward_with_maps`` returns the logits *and* the last conv maps f_k(x, y) (after ReLU),
and ``classifier.weight`` is w^c_k: everything a CAM needs from a single forward pass.

``FlattenFCNet`` has the same convolutions but flattens the maps into a fully connected
layer, as classic CNNs do; it has no CAM (space is mixed into the weights), and serves as
the baseline in notebook 02 and as Grad-CAM's example in notebook 04.

``VGG16GAP`` (built by ``vgg16_gap``) is the paper's surgery on torchvision's VGG16 for
notebook 05: keep conv1_1 ... conv5_3, drop pool5 and the fully connected layers, add a 3x3
convolution with 1024 units, global average pooling and one linear layer. It exposes
``forward_with_maps``, ``classifier`` and ``stride`` as ``GAPNet`` does.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torchvision.models import VGG16_Weights
from torchvision.models.vgg import cfgs as _VGG_CONFIGS
from torchvision.models.vgg import make_layers as _vgg_make_layers

from camlib._checks import check_int
from camlib._guards import check_images, check_model, explained_errors, hooks

POOLINGS = {"gap": nn.AdaptiveAvgPool2d, "gmp": nn.AdaptiveMaxPool2d}


def _check_widths(widths) -> list[int]:
    if isinstance(widths, torch.Tensor) or type(widths).__module__ == "numpy":
        widths = widths.tolist() if getattr(widths, "ndim", 0) == 1 else widths  # np.array([16, 32]) too
    if isinstance(widths, Integral) or not isinstance(widths, Sequence) or isinstance(widths, str):
        raise ValueError(f"widths must be a sequence of channel counts, one per stage, e.g. (32, 64); got {widths!r}")
    if not widths:
        raise ValueError("widths must name at least one stage, e.g. widths=(32, 64, 128)")
    return [check_int(width, f"widths[{i}]", 1) for i, width in enumerate(widths)]


def _check_downsample(downsample, stages: int) -> int:
    if isinstance(downsample, bool) or not isinstance(downsample, Integral) or not 0 <= downsample <= stages:
        raise ValueError(f"downsample={downsample!r} must be an int between 0 and len(widths)={stages}")
    return int(downsample)


def check_input(model: nn.Module, images: torch.Tensor, in_channels: int, stride: int) -> None:
    """Refuse, in words, images a network built here cannot take, before torch fails deep inside:
    not a finite float ``[B, C, H, W]`` tensor in the model's dtype and device (``camlib.methods.cam.check_images``),
    another channel count, a side smaller than the stride, or (training) one value per BatchNorm channel."""
    check_images(images, model)
    name = type(model).__name__
    if images.shape[1] != in_channels:
        fix = "images.mean(dim=1, keepdim=True) for grey" if in_channels == 1 else "images.expand(-1, 3, -1, -1)"
        raise ValueError(
            f"{name} cannot run on images of shape {list(images.shape)}: it expects {in_channels} channels "
            f"(in_channels={in_channels}), got {images.shape[1]}. Convert them (e.g. {fix}) or build the "
            f"network with in_channels={images.shape[1]}"
        )
    height, width = images.shape[-2:]
    if height < stride or width < stride:
        raise ValueError(
            f"{name} downsamples by {stride}, so images must be at least {stride}x{stride}; got {height}x{width}"
        )
    if (model.training and images.shape[0] * (height // stride) * (width // stride) == 1
            and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())):
        raise ValueError(
            f"{name} is in training mode, where BatchNorm needs more than one value per channel: one "
            f"{height}x{width} image leaves one; train on batches of at least 2 images, or call model.eval()"
        )


def conv_backbone(
    in_channels: int, widths: Sequence[int], downsample: int, convs_per_stage: int = 2
) -> nn.Sequential:
    """Stages of ``convs_per_stage`` 3x3 conv + BatchNorm + ReLU; the first ``downsample``
    stages end in 2x2 max pooling.

    The maps leave the backbone at stride ``2 ** downsample`` and after a ReLU, so
    f_k(x, y) >= 0 as in the paper.
    """
    in_channels = check_int(in_channels, "in_channels", 1)
    widths = _check_widths(widths)
    downsample = _check_downsample(downsample, len(widths))
    if isinstance(convs_per_stage, bool) or not isinstance(convs_per_stage, Integral) or convs_per_stage < 1:
        raise ValueError(f"convs_per_stage must be at least 1, got {convs_per_stage!r}")
    layers: list[nn.Module] = []
    channels = in_channels
    for stage, width in enumerate(widths):
        for _ in range(convs_per_stage):
            layers += [
                nn.Conv2d(channels, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            channels = width
        if stage < downsample:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class GAPClassifier(nn.Module):
    """What every CAM-readable network here shares: ``features`` (conv maps, after ReLU),
    ``pool`` (global pooling to one number per map) and a linear ``classifier``."""

    features: nn.Module
    pool: nn.Module
    classifier: nn.Linear

    def forward_with_maps(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[B, C]`` and the last conv maps ``[B, K, h, w]`` from one pass.

        Images are checked first (``check_input``): a wrong channel count, dtype, device, a
        size below the stride or NaN pixels raise a ValueError that says so."""
        first_conv = next(m for m in self.features.modules() if isinstance(m, nn.Conv2d))
        check_input(self, images, first_conv.in_channels, getattr(self, "stride", 1))
        maps = self.features(images)
        logits = self.classifier(self.pool(maps).flatten(1))
        return logits, maps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_with_maps(images)[0]


class GAPNet(GAPClassifier):
    """Conv backbone -> global average (or max) pooling -> one linear layer.

    The linear layer has no bias by default, as in the paper: then the class score is
    exactly the pooled CAM, S_c = (1/Z) sum_{x,y} M_c(x, y).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: Sequence[int] = (32, 64, 128),
        pool: str = "gap",
        downsample: int | None = None,
        bias: bool = False,
        convs_per_stage: int = 2,
    ):
        super().__init__()
        if not isinstance(pool, str) or pool not in POOLINGS:
            raise ValueError(f"pool={pool!r}: use 'gap' (global average) or 'gmp' (global max)")
        widths = _check_widths(widths)
        num_classes = check_int(num_classes, "num_classes", 1)
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be True or False, got {bias!r}")
        downsample = len(widths) - 1 if downsample is None else downsample
        self.config = dict(
            in_channels=in_channels,
            num_classes=num_classes,
            widths=list(widths),
            pool=pool,
            downsample=downsample,
            bias=bias,
            convs_per_stage=convs_per_stage,
        )
        self.features = conv_backbone(in_channels, widths, downsample, convs_per_stage)
        self.pool = POOLINGS[pool](1)
        self.classifier = nn.Linear(widths[-1], num_classes, bias=bias)

    @property
    def stride(self) -> int:
        """Input pixels per CAM pixel along each axis."""
        return 2 ** self.config["downsample"]


class FlattenFCNet(nn.Module):
    """The same backbone with a flatten + fully connected head: the head a CAM cannot read."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: Sequence[int] = (32, 64, 128),
        input_size: int = 28,
        downsample: int | None = None,
    ):
        super().__init__()
        widths = _check_widths(widths)
        num_classes = check_int(num_classes, "num_classes", 1)
        input_size = check_int(input_size, "input_size", 1)
        downsample = _check_downsample(len(widths) - 1 if downsample is None else downsample, len(widths))
        if input_size < 2**downsample:
            raise ValueError(f"input_size={input_size} is smaller than the stride 2**downsample = {2**downsample}")
        self.config = dict(
            in_channels=in_channels,
            num_classes=num_classes,
            widths=list(widths),
            input_size=input_size,
            downsample=downsample,
        )
        self.features = conv_backbone(in_channels, widths, downsample)
        side = input_size // 2**downsample
        self.classifier = nn.Linear(widths[-1] * side * side, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        side = self.config["input_size"]
        check_input(self, images, self.config["in_channels"], 2 ** self.config["downsample"])
        if tuple(images.shape[-2:]) != (side, side):
            raise ValueError(
                f"FlattenFCNet was built for {side}x{side} images (its fully connected layer fixes the size), "
                f"got {images.shape[-2]}x{images.shape[-1]}: resize them, or build it with input_size=..."
            )
        return self.classifier(self.features(images).flatten(1))


VGG16_KEPT = 30
"""How many modules of torchvision's ``vgg16().features`` VGG16GAP keeps: conv1_1 ... conv5_3
and their ReLUs and the first four poolings (indices 0-29). Index 30, pool5, is dropped."""


def _init_like_torchvision_vgg(module: nn.Module) -> None:
    """torchvision's VGG initialization: He (fan_out) for convolutions, N(0, 0.01) for linear layers, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class VGG16GAP(GAPClassifier):
    """VGG16-GAP (Zhou et al., CVPR 2016, section 3.1): torchvision's VGG16 up to conv5_3,
    then a 3x3 conv (stride 1, pad 1, 1024 units) + ReLU, global average pooling and a linear layer.

    ``features`` holds the whole convolutional part: indices 0-29 are torchvision's
    ``vgg16().features[:30]`` (same indices, so a torchvision state dict's ``features.*`` keys
    fit), ``features[30]`` is the new conv and ``features[31]`` its ReLU. Its output is the
    CAM's f_k(x, y): 1024 maps at stride 16, 14x14 for a 224x224 input. pool5 is gone, so
    the maps are twice as fine as conv5_3's pooled 7x7.

    The linear layer keeps a bias, unlike the paper, which sets the softmax bias to 0 (notebook 01):
    it starts at zero (torchvision's VGG initialization) and is trained with the rest. Then
    S_c = (1/Z) sum_{x,y} M_c(x, y) + b_c: the bias shifts a class score by a constant but never
    moves its map. Weights start as torchvision's VGG initialization;
    ``vgg16_gap`` carries pretrained conv1_1-conv5_3 weights over. With ``freeze_backbone``
    the carried-over layers get ``requires_grad=False`` and only the new conv and the linear
    layer train.
    """

    def __init__(self, num_classes: int = 1000, freeze_backbone: bool = False):
        super().__init__()
        num_classes = check_int(num_classes, "num_classes", 1)
        if not isinstance(freeze_backbone, bool):
            raise TypeError(f"freeze_backbone={freeze_backbone!r}: use True or False")
        self.config = dict(num_classes=num_classes, freeze_backbone=freeze_backbone)
        vgg_features = _vgg_make_layers(_VGG_CONFIGS["D"])  # torchvision.models.vgg16().features
        dropped = vgg_features[VGG16_KEPT:]
        if len(dropped) != 1 or not isinstance(dropped[0], nn.MaxPool2d):
            raise RuntimeError(f"torchvision's VGG16 features no longer end in pool5 at index {VGG16_KEPT}")
        self.features = nn.Sequential(
            *vgg_features[:VGG16_KEPT],
            nn.Conv2d(512, 1024, kernel_size=3, stride=1, padding=1),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(1024, num_classes)
        _init_like_torchvision_vgg(self)
        for parameter in self.backbone.parameters():
            parameter.requires_grad_(not freeze_backbone)

    @property
    def backbone(self) -> nn.Sequential:
        """The layers carried over from VGG16 (conv1_1 ... conv5_3 + ReLU): ``features[:30]``."""
        return self.features[:VGG16_KEPT]

    @property
    def stride(self) -> int:
        """Input pixels per CAM pixel along each axis: four 2x2 poolings."""
        return 16


def _is_vgg16_weights_name(name: str) -> bool:
    return name.removeprefix("VGG16_Weights.") in VGG16_Weights.__members__


def _read_vgg16_state_dict(path: Path) -> dict[str, torch.Tensor]:
    expected = (
        "a torchvision VGG16 state dict, as written by "
        "torch.save(torchvision.models.vgg16(weights=...).state_dict(), path)"
    )
    if not path.is_file():
        raise FileNotFoundError(
            f"no VGG16 weights file at {path}: weights= takes None, a torchvision VGG16_Weights "
            f"({', '.join(VGG16_Weights.__members__)}), or the path of a file holding {expected}"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"{path} cannot be read with torch.load(weights_only=True) ({type(error).__name__}); "
            f"it should hold {expected}"
        ) from error
    if isinstance(payload, dict) and {"architecture", "state_dict"} <= payload.keys():
        raise ValueError(
            f"{path} is a camlib checkpoint, not a VGG16 state dict: read it with camlib.train.load_checkpoint"
        )
    if not isinstance(payload, dict):
        raise ValueError(f"{path} holds a {type(payload).__name__}; it should hold {expected}")
    return payload


def _carry_over_vgg16(model: VGG16GAP, state_dict: dict, source: str) -> None:
    """Copy conv1_1 ... conv5_3 from a torchvision VGG16 state dict (``features.<i>.*`` keys) into ``model``."""
    wanted = {f"features.{key}": value for key, value in model.backbone.state_dict().items()}
    missing = [key for key in wanted if key not in state_dict]
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise ValueError(
            f"{source} is not a torchvision VGG16 state dict: it lacks {len(missing)} of the "
            f"{len(wanted)} conv1_1-conv5_3 tensors ({shown})"
        )
    wrong = [
        f"{key} {list(state_dict[key].shape)} (VGG16: {list(value.shape)})"
        for key, value in wanted.items()
        if not isinstance(state_dict[key], torch.Tensor) or state_dict[key].shape != value.shape
    ]
    if wrong:
        raise ValueError(f"{source} is not a torchvision VGG16 state dict: wrong shapes for {', '.join(wrong[:4])}")
    model.backbone.load_state_dict({key.removeprefix("features."): state_dict[key] for key in wanted})


def _cached_vgg16_weights(weights: VGG16_Weights | str, timeout: float | None) -> Path:
    """The hash-checked file of torchvision's VGG16 ``weights`` in torch's cache, downloaded with a timeout
    when missing (``camlib.models.pretrained``); torchvision's own builder would wait forever on a silent network."""
    # imported here: camlib.models.pretrained builds torchvision's models, not ours
    from camlib.models import pretrained

    member = pretrained.resolve_weights(weights, "vgg16")
    choice = pretrained.pretrained_weights(member, timeout=timeout, verbose=False)
    if choice.weights is None:
        raise pretrained.WeightsUnavailableError(f"{choice.reason}. Offline: {pretrained.offline_recipe(member)}")
    return pretrained.weights_file(member)


def vgg16_gap(
    weights: VGG16_Weights | str | os.PathLike | None = None,
    num_classes: int = 1000,
    freeze_backbone: bool = False,
    *,
    timeout: float | None = 30.0,
) -> VGG16GAP:
    """The paper's VGG16-GAP, with conv1_1 ... conv5_3 carried over from a VGG16.

    Args:
        weights: ``None`` (torchvision's random VGG initialization); a ``VGG16_Weights`` or
            its name (``"IMAGENET1K_V1"``, ``"DEFAULT"``, ...), read from torch's cache
            (hash-checked) or downloaded into it the first time, as torchvision does, but with
            ``timeout`` (``camlib.models.pretrained``; ``WeightsUnavailableError`` says which file to put
            where when it cannot be had); or the path (``str`` or ``Path``) of a local file holding a
            torchvision VGG16 state dict, read with ``weights_only=True``. Only the
            ``features.*`` tensors of conv1_1 ... conv5_3 are used; VGG16's fully connected
            layers are dropped. Preprocess images as the weights expect (``weights.transforms()``).
        num_classes: outputs of the new linear layer (initialized afresh).
        freeze_backbone: give the carried-over layers ``requires_grad=False``.
        timeout: seconds a silent connection may stall a download before it counts as failed.

    The model's ``config`` rebuilds it without ``weights`` (checkpoints store the weights).
    """
    model = VGG16GAP(num_classes=num_classes, freeze_backbone=freeze_backbone)
    if weights is None:
        return model
    if isinstance(weights, VGG16_Weights) or (isinstance(weights, str) and _is_vgg16_weights_name(weights)):
        path = _cached_vgg16_weights(weights, timeout)
        _carry_over_vgg16(model, _read_vgg16_state_dict(path), str(path))
    elif isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
        _carry_over_vgg16(model, _read_vgg16_state_dict(path), str(path))
    else:
        raise TypeError(
            f"weights={weights!r}: use None, a torchvision VGG16_Weights (or its name), "
            "or the path of a file holding a torchvision VGG16 state dict"
        )
    return model


ARCHITECTURES: dict[str, type[nn.Module]] = {"GAPNet": GAPNet, "FlattenFCNet": FlattenFCNet, "VGG16GAP": VGG16GAP}

# Models defined in modules that import this one add themselves to ARCHITECTURES when imported; a
# checkpoint may name one before anything imported its module, so that module is imported first.
_REGISTERED_BY = {"TinyViT": "camlib.vit"}


def known_architectures() -> dict[str, type[nn.Module]]:
    """Every architecture a camlib checkpoint can hold, by class name."""
    for name, module in _REGISTERED_BY.items():
        if name not in ARCHITECTURES:
            importlib.import_module(module)
    return ARCHITECTURES


def build_model(architecture: str, config: dict) -> nn.Module:
    """Rebuild a model from the ``architecture`` name and ``config`` a checkpoint stores."""
    if not isinstance(architecture, str) or architecture not in known_architectures():
        raise ValueError(f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}")
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict of {architecture}'s arguments, got {type(config).__name__}")
    try:
        return ARCHITECTURES[architecture](**config)
    except TypeError as error:  # a key the class does not take: name the ones it does
        taken = list(inspect.signature(ARCHITECTURES[architecture]).parameters)
        raise TypeError(f"config does not fit {architecture}({', '.join(taken)}): {error}") from None


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in check_model(model).parameters())


class LayerRecord(NamedTuple):
    """One leaf module as a forward pass met it: qualified name, module, output shape (no batch), parameters."""

    name: str
    module: nn.Module
    shape: tuple[int, ...]
    parameters: int


def layer_summary(model: nn.Module, images: torch.Tensor) -> list[LayerRecord]:
    """Every leaf module (Conv2d, ReLU, pooling, Linear, ...) in the order ``model(images)`` calls it,
    with its output shape: one forward pass under ``no_grad``, forward hooks removed afterwards. Images the model
    cannot take (``check_images``: type, shape, dtype, device, NaN; or channels, size) are a ValueError."""
    check_images(images, check_model(model))
    records = []

    def recorder(name):
        def record(module, inputs, output):
            shape = tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else ()  # e.g. an LSTM's tuple
            records.append(LayerRecord(name, module, shape, count_parameters(module)))
        return record

    leaves = [(module, recorder(name)) for name, module in model.named_modules()
              if next(module.children(), None) is None]
    with hooks(leaves), torch.no_grad(), explained_errors(model, images):
        model(images)
    return records


def vgg16_layer_names() -> list[str]:
    """The paper's names of torchvision's ``vgg16().features``, index by index: conv1_1, relu1_1, ...,
    pool1, ..., conv5_3, relu5_3, pool5 (31 names)."""
    names, stage, conv = [], 1, 0
    for entry in _VGG_CONFIGS["D"]:
        if entry == "M":
            names.append(f"pool{stage}")
            stage, conv = stage + 1, 0
        else:
            conv += 1
            names += [f"conv{stage}_{conv}", f"relu{stage}_{conv}"]
    return names
