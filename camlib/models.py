"""Networks whose last convolutional maps a CAM can read.

``GAPNet`` is the paper's recipe at toy scale: convolutions, then global average pooling
(or global max pooling, for the comparison of notebook 03), then one linear layer. Its
``forward_with_maps`` returns the logits *and* the last conv maps f_k(x, y) (after ReLU),
and ``classifier.weight`` is w^c_k: everything a CAM needs from a single forward pass.

``FlattenFCNet`` has the same convolutions but flattens the maps into a fully connected
layer, as classic CNNs do; it has no CAM (space is mixed into the weights), and serves as
the baseline in notebook 02 and as Grad-CAM's example in notebook 04.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

POOLINGS = {"gap": nn.AdaptiveAvgPool2d, "gmp": nn.AdaptiveMaxPool2d}


def conv_backbone(
    in_channels: int, widths: Sequence[int], downsample: int, convs_per_stage: int = 2
) -> nn.Sequential:
    """Stages of ``convs_per_stage`` 3x3 conv + BatchNorm + ReLU; the first ``downsample``
    stages end in 2x2 max pooling.

    The maps leave the backbone at stride ``2 ** downsample`` and after a ReLU, so
    f_k(x, y) >= 0 as in the paper.
    """
    if not widths:
        raise ValueError("widths must name at least one stage, e.g. widths=(32, 64, 128)")
    if not 0 <= downsample <= len(widths):
        raise ValueError(f"downsample={downsample} must lie between 0 and len(widths)={len(widths)}")
    if convs_per_stage < 1:
        raise ValueError(f"convs_per_stage must be at least 1, got {convs_per_stage}")
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


class GAPNet(nn.Module):
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
        if pool not in POOLINGS:
            raise ValueError(f"pool={pool!r}: use 'gap' (global average) or 'gmp' (global max)")
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

    def forward_with_maps(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[B, C]`` and the last conv maps ``[B, K, h, w]`` from one pass."""
        maps = self.features(images)
        logits = self.classifier(self.pool(maps).flatten(1))
        return logits, maps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_with_maps(images)[0]


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
        downsample = len(widths) - 1 if downsample is None else downsample
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
        return self.classifier(self.features(images).flatten(1))


ARCHITECTURES: dict[str, type[nn.Module]] = {"GAPNet": GAPNet, "FlattenFCNet": FlattenFCNet}


def build_model(architecture: str, config: dict) -> nn.Module:
    """Rebuild a model from the ``architecture`` name and ``config`` a checkpoint stores."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](**config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
