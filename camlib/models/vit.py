"""A small vision transformer, ``TinyViT``: patch (or conv) stem, pre-norm blocks whose attention
probabilities are computed in the open, and a head that averages the patch tokens (``head="mean"``,
a GAP network over the patch grid) or reads the CLS token (``head="cls"``). Notebook 08; its token
CAMs are in ``camlib.methods.token_cams``."""

from __future__ import annotations

from numbers import Real

import torch
from torch import nn

from camlib._checks import check_int, check_size
from camlib.models.cnn import ARCHITECTURES

HEADS = ("mean", "cls")
STEMS = ("patch", "conv")


# --- the model -----------------------------------------------------------------------------


class Attention(nn.Module):
    """Multi-head self-attention with the attention probabilities computed in the open.

    ``softmax`` is an ``nn.Softmax`` module, so a forward hook on ``blocks[i].attn.softmax``
    reads the probabilities ``[B, heads, N, N]`` (rows sum to 1: row i is where token i looks).
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} is not divisible by heads={heads}: each head gets dim / heads channels")
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.softmax = nn.Softmax(dim=-1)
        self.proj = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, n, dim = tokens.shape
        q, k, v = self.qkv(tokens).reshape(batch, n, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attention = self.softmax((q @ k.transpose(-2, -1)) * self.scale)  # [B, heads, N, N]
        return self.proj((attention @ v).transpose(1, 2).reshape(batch, n, dim))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        hidden = max(1, round(dim * mlp_ratio))
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens + self.attn(self.norm1(tokens))
        return tokens + self.mlp(self.norm2(tokens))


def conv_stem(in_channels: int, dim: int, patch_size: int) -> nn.Sequential:
    """The convolutional stem of Xiao et al. (NeurIPS 2021): log2(patch) stride-2 3x3 convolutions, then a 1x1.

    It replaces the patch embedding's single ``patch x patch`` convolution with the same grid of
    tokens; ViTs with it train far faster on small data sets (notebook 08's canvases: about 80 %
    accuracy in 10 epochs where the plain patch embedding reaches about 35 %).
    """
    layers, channels = [], in_channels
    for stage in range(patch_size.bit_length() - 1):
        width = min(dim, 16 * 2 ** stage)
        layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        channels = width
    return nn.Sequential(*layers, nn.Conv2d(channels, dim, 1))


def _check_vit_config(image_size, patch_size, in_channels, num_classes, dim, depth, heads, mlp_ratio, head,
                      stem) -> dict:
    """TinyViT's arguments, checked, as the ``config`` dict that rebuilds the model."""
    image_size, patch_size = check_size(image_size, "image_size"), check_int(patch_size, "patch_size", 1)
    if image_size[0] % patch_size or image_size[1] % patch_size:
        raise ValueError(f"image_size {image_size} is not divisible by patch_size {patch_size}: use an image "
                         "size that is a multiple of the patch, or crop or pad the images to one")
    if head not in HEADS:
        raise ValueError(f"head={head!r}: use 'mean' (average of the patch tokens, a CAM exists) or 'cls'")
    if stem not in STEMS:
        raise ValueError(f"stem={stem!r}: use 'patch' (one patch x patch convolution) or 'conv' (stride-2 3x3 "
                         "convolutions)")
    if stem == "conv" and (patch_size < 2 or patch_size & (patch_size - 1)):
        raise ValueError(f"stem='conv' halves the image per convolution, so patch_size must be a power of 2 "
                         f"(2, 4, 8, 16...), got {patch_size}; or use stem='patch'")
    if isinstance(mlp_ratio, bool) or not isinstance(mlp_ratio, Real) or not mlp_ratio > 0:
        raise ValueError(f"mlp_ratio must be a positive number, got {mlp_ratio!r}")
    counts = dict(in_channels=in_channels, num_classes=num_classes, dim=dim, depth=depth, heads=heads)
    config = dict(image_size=image_size, patch_size=patch_size, **{k: check_int(v, k, 1) for k, v in counts.items()})
    if config["dim"] % config["heads"]:
        raise ValueError(f"dim={dim} is not divisible by heads={heads}: each head gets dim / heads channels")
    return {**config, "mlp_ratio": mlp_ratio, "head": head, "stem": stem}


class TinyViT(nn.Module):
    """A small vision transformer whose head is a GAP head over tokens or a CLS token.

    Patches of ``patch_size`` pixels become ``dim``-channel tokens (``stem="patch"``: a Conv2d
    with stride = patch, as in ViT; ``stem="conv"``: ``conv_stem``, stride-2 3x3 convolutions
    down to the same grid), plus a learned position embedding; ``depth`` pre-norm blocks; a final LayerNorm
    ``norm``; one linear ``classifier``.

    * ``head="mean"``: logits = classifier(mean of the patch tokens of norm(tokens)), a GAP
      network over the ``grid``: ``compute_token_cams`` gives its exact CAM.
    * ``head="cls"``: a CLS token is prepended and logits = classifier(norm(tokens)[:, 0]).

    Attributes: ``grid`` = (h, w) patches, ``prefix_tokens`` = 0 (mean) or 1 (cls),
    ``head``, ``config`` (the arguments). The initialization is deterministic given
    ``torch.manual_seed``.
    """

    def __init__(
        self,
        image_size: int | tuple[int, int],
        patch_size: int,
        in_channels: int,
        num_classes: int,
        dim: int = 64,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 2,
        head: str = "mean",
        stem: str = "patch",
    ):
        super().__init__()
        self.config = config = _check_vit_config(image_size, patch_size, in_channels, num_classes, dim, depth,
                                                 heads, mlp_ratio, head, stem)
        self.head, self.image_size, patch, dim = head, config["image_size"], config["patch_size"], config["dim"]
        self.grid = (self.image_size[0] // patch, self.image_size[1] // patch)
        self.prefix_tokens = 1 if head == "cls" else 0
        self.in_channels = config["in_channels"]
        self.patch_embed = (nn.Conv2d(self.in_channels, dim, patch, stride=patch) if stem == "patch"
                            else conv_stem(self.in_channels, dim, patch))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if head == "cls" else None
        self.pos_embed = nn.Parameter(torch.zeros(1, self.prefix_tokens + self.grid[0] * self.grid[1], dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.blocks = nn.ModuleList(Block(dim, config["heads"], mlp_ratio) for _ in range(config["depth"]))
        self.norm = nn.LayerNorm(dim)
        self.classifier = nn.Linear(dim, config["num_classes"])

    def _check_images(self, images: torch.Tensor) -> None:
        channels = self.in_channels
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != channels \
                or tuple(images.shape[-2:]) != self.image_size:
            got = list(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(
                f"TinyViT was built for images [B, {channels}, {self.image_size[0]}, {self.image_size[1]}] "
                f"(in_channels={channels}, image_size={self.image_size}), got {got}: resize or crop the images, "
                "or build the model for their size (the position embedding has one entry per patch)"
            )

    def forward_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """The normalized tokens ``norm(tokens)``, ``[B, prefix_tokens + h*w, dim]``."""
        self._check_images(images)
        tokens = self.patch_embed(images).flatten(2).transpose(1, 2)  # [B, h*w, dim], row-major grid
        if self.cls_token is not None:
            tokens = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1)
        tokens = tokens + self.pos_embed
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.forward_tokens(images)
        pooled = tokens[:, 0] if self.head == "cls" else tokens[:, self.prefix_tokens:].mean(dim=1)
        return self.classifier(pooled)


ARCHITECTURES["TinyViT"] = TinyViT  # so camlib.train's checkpoints store and rebuild it by name
