"""CAM beyond convolutions: vision transformers (notebook 08).

A ViT cuts the image into an h x w grid of patches and turns each into a token t(x, y) of K
numbers. When its head averages the patch tokens and applies one linear layer, it *is* a GAP
network over that grid, and its CAM is exact, as in Zhou et al.:

    S_c = (1/Z) sum_{x,y} M_c(x, y) + b_c,    M_c(x, y) = sum_k w^c_k t_k(x, y),   Z = h*w.

A ViT that classifies from its CLS token reads one token, not an average, so it has no CAM.
Three ways to look inside it remain: Grad-CAM over the tokens reshaped to the grid
(``camlib.grad_cam(..., reshape=token_reshape(grid, prefix_tokens=1))``), attention
rollout (Abnar & Zuidema, ACL 2020), which multiplies the layers' attention matrices, and
``chefer_relevance`` (Chefer et al., ICCV 2021), which weighs each attention by its gradient
for the class before accumulating them.

Conventions: tokens are ``[B, N, K]`` with the ``prefix_tokens`` CLS/register tokens first and
the patch tokens in row-major grid order (as a Conv2d patch embedding flattened); maps are
``[B, h, w]`` or ``[B, C, h, w]`` at the grid's resolution, raw (no ReLU, no normalization, no
resizing: ``camlib.methods.cam.upsample_cams`` and ``normalize_cams`` are separate steps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral, Real

import torch
from torch import nn

from camlib._checks import LOW_PRECISION, as_class_indices, check_int, check_size
from camlib._guards import check_grad_mode, check_images, eval_mode, hooks, run_model, target_classes
from camlib.methods.cam import CAMOutput, class_activation_maps

HEAD_FUSIONS = ("mean", "max", "min")
NO_CAM = "use grad_cam with reshape or attention_rollout: a CLS head has no CAM"


# --- token CAMs ----------------------------------------------------------------------------


def _prefix(prefix_tokens) -> int:
    return check_int(prefix_tokens, "prefix_tokens", 0, "the CLS and register tokens before the patches")


def _check_token_count(n: int, grid: tuple[int, int], prefix: int) -> None:
    if n - prefix != grid[0] * grid[1]:
        raise ValueError(
            f"the tokens hold N={n} tokens; with prefix_tokens={prefix} that leaves {n - prefix} patch tokens, but "
            f"the grid {grid} has {grid[0] * grid[1]} positions: pass grid=(H // patch, W // patch) and the "
            "number of CLS/register tokens that come before the patches"
        )


def _patch_maps(tokens: torch.Tensor, grid: tuple[int, int], prefix: int) -> torch.Tensor:
    """``[B, N, K]`` tokens -> ``[B, K, h, w]`` maps of the patch tokens (a view, no copy)."""
    _check_token_count(tokens.shape[1], grid, prefix)
    return tokens[:, prefix:].unflatten(1, grid).permute(0, 3, 1, 2)


def token_cams(
    tokens: torch.Tensor,
    weight: torch.Tensor,
    grid: int | tuple[int, int],
    classes: torch.Tensor | Sequence[int] | None = None,
    *,
    prefix_tokens: int = 0,
) -> torch.Tensor:
    """Raw token CAMs M_c(x, y) = sum_k w^c_k t_k(x, y) over the patch grid.

    Args:
        tokens: ``[B, N, K]``, the first ``prefix_tokens`` of them CLS/register tokens (dropped),
            then h*w patch tokens in row-major order.
        weight: the linear head's weight ``[C, K]``.
        grid: ``(h, w)`` patches (or one int for a square grid).
        classes: ``None`` for every class, or one class index per image.

    Returns ``[B, C, h, w]`` when ``classes`` is None, else ``[B, h, w]``.
    """
    if not isinstance(tokens, torch.Tensor) or not isinstance(weight, torch.Tensor):
        raise TypeError(f"tokens and weight must be torch tensors, got {type(tokens).__name__} and "
                        f"{type(weight).__name__}")
    if tokens.dim() != 3:
        raise ValueError(f"tokens must be [B, N, K] (batch, tokens, channels), got shape {list(tokens.shape)}; "
                         "for one image use tokens.unsqueeze(0)")
    if weight.dim() != 2 or weight.shape[1] != tokens.shape[2]:
        raise ValueError(
            f"the tokens have K={tokens.shape[2]} channels (shape {list(tokens.shape)}) but the weight has shape "
            f"{list(weight.shape)}, not [C, {tokens.shape[2]}]: pass the weight of the linear head that reads "
            "these tokens"
        )
    maps = _patch_maps(tokens, check_size(grid, "grid"), _prefix(prefix_tokens))
    return class_activation_maps(maps, weight, classes)  # one einsum, with camlib.methods.cam's checks


def _check_token_model(model: nn.Module) -> None:
    if isinstance(getattr(model, "head", None), str) and model.head == "cls":
        raise TypeError(f"{type(model).__name__} classifies from its CLS token: {NO_CAM}")
    missing = [name for name in ("norm", "classifier", "grid", "prefix_tokens") if not hasattr(model, name)]
    if missing or not isinstance(model.classifier, nn.Linear) or not isinstance(model.norm, nn.Module):
        raise TypeError(
            f"{type(model).__name__} is not a token GAP network: compute_token_cams needs a module `norm` whose output "
            "is the tokens the head averages, an nn.Linear `classifier`, and `grid` and `prefix_tokens` "
            f"(as camlib.TinyViT(head='mean') has){'; missing: ' + ', '.join(missing) if missing else ''}"
        )


def _captured_tokens(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, output of ``model.norm``) from one forward pass."""
    captured = []
    with hooks([(model.norm, lambda _module, _inputs, output: captured.append(output))]):
        logits = run_model(model, images)
    if not captured or not isinstance(captured[-1], torch.Tensor) or captured[-1].dim() != 3:
        raise TypeError(f"{type(model).__name__}.norm did not return tokens [B, N, K] during the forward pass; "
                        "compute_token_cams reads the tokens the head averages there")
    return logits, captured[-1]


def _check_token_identity(model: nn.Module, logits: torch.Tensor, cams: torch.Tensor, classes) -> None:
    """S_c = mean of M_c + b_c, or the hook read something the head does not average."""
    if logits.numel() == 0:
        return
    bias = model.classifier.bias
    pooled = cams.detach().mean(dim=(-2, -1))
    scores = (logits if classes is None else logits.gather(1, classes[:, None])[:, 0]).detach()
    if bias is not None:
        pooled = pooled + (bias if classes is None else bias[classes]).detach()
    tolerance = (2e-2 if logits.dtype in LOW_PRECISION else 1e-3) * max(1.0, float(scores.abs().max()))
    if float((scores - pooled).abs().max()) > tolerance:
        raise TypeError(
            f"{type(model).__name__}'s logits are not its classifier applied to the mean of its patch tokens "
            f"(largest difference {float((scores - pooled).abs().max()):.3g}), so a CAM would not add up to its "
            f"scores; if it classifies from a CLS token, {NO_CAM}"
        )


def compute_token_cams(
    model: nn.Module, images: torch.Tensor, classes: torch.Tensor | Sequence[int] | str | None = None
) -> CAMOutput:
    """Logits and exact token CAMs of a mean-head ViT from one forward pass, in eval mode.

    Args:
        model: ``TinyViT(head="mean")``, or any model with a module ``norm`` returning the
            tokens ``[B, N, K]`` its head averages (after ``prefix_tokens``), a linear
            ``classifier`` on that average, and ``grid`` and ``prefix_tokens`` attributes.
        images: ``[B, C, H, W]`` on the model's device.
        classes: ``None`` (every class), ``"predicted"``, or one index per image.

    Returns ``CAMOutput(logits, cams)`` with raw maps ``[B, C, h, w]`` (``classes=None``) or
    ``[B, h, w]`` at the grid's resolution. The identity logits_c = mean(M_c) + b_c is checked
    on every call. The model's train/eval flags are restored; no hook stays behind.
    """
    _check_token_model(model)
    check_images(images, model)
    if isinstance(classes, str) and classes != "predicted":
        raise ValueError(f"classes={classes!r}: use None, 'predicted' or one index per image")
    with eval_mode(model):
        logits, tokens = _captured_tokens(model, images)
    if isinstance(classes, str):
        classes = logits.argmax(dim=1)
    elif classes is not None:
        classes = as_class_indices(classes, logits.shape[0], logits.shape[1]).to(logits.device)
    cams = token_cams(tokens, model.classifier.weight, model.grid, classes, prefix_tokens=model.prefix_tokens)
    _check_token_identity(model, logits, cams, classes)
    return CAMOutput(logits, cams)


def token_reshape(grid: int | tuple[int, int], prefix_tokens: int = 0) -> Callable[[torch.Tensor], torch.Tensor]:
    """A callable ``[B, N, K] -> [B, K, h, w]`` that drops ``prefix_tokens`` and lays the rest on the grid.

    It is pytorch-grad-cam's ``reshape_transform`` for ViTs (drop the CLS token, reshape to
    ``[B, h, w, K]``, move the channels first), for ``camlib.grad_cam(..., reshape=...)``.
    For torchvision's ``vit_b_16`` at 224 x 224: ``token_reshape((14, 14), prefix_tokens=1)``.
    """
    grid, prefix = check_size(grid, "grid"), _prefix(prefix_tokens)

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 3:
            got = list(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(f"token_reshape expects tokens [B, N, K], got {got}")
        return _patch_maps(tokens, grid, prefix)

    reshape.__qualname__ = f"token_reshape(grid={grid}, prefix_tokens={prefix})"
    return reshape


# --- attention rollout ---------------------------------------------------------------------


def _attention_modules(model: nn.Module) -> list[nn.Module] | None:
    """TinyViT's ``blocks[i].attn.softmax``; torchvision's ``encoder.layers[i].self_attention``."""
    blocks = getattr(model, "blocks", None)
    if isinstance(blocks, nn.ModuleList) and all(isinstance(getattr(getattr(b, "attn", None), "softmax", None),
                                                                nn.Module) for b in blocks):
        return [block.attn.softmax for block in blocks]
    layers = getattr(getattr(model, "encoder", None), "layers", None)
    if isinstance(layers, nn.Module) and all(isinstance(getattr(layer, "self_attention", None),
                                                        nn.MultiheadAttention) for layer in layers):
        return [layer.self_attention for layer in layers]
    return None


def _need_weights(_module, args, kwargs):
    """torchvision's blocks call self_attention(..., need_weights=False): ask for per-head weights."""
    return args, {**kwargs, "need_weights": True, "average_attn_weights": False}


def _forward_capturing(model: nn.Module, images: torch.Tensor, caller: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One forward pass in eval mode with each attention layer's probabilities ``[B, heads, N, N]`` kept
    (TinyViT's ``blocks[i].attn.softmax`` outputs; torchvision's ``self_attention`` asked for per-head
    weights); hooks removed, modes restored. Gradients follow the caller's grad mode."""
    check_images(images, model)
    modules = _attention_modules(model)
    if not modules:
        raise TypeError(f"{type(model).__name__} has no attention layers that {caller} can read: it "
                        "supports camlib.TinyViT (blocks[i].attn.softmax) and torchvision's VisionTransformer")
    captured: list[torch.Tensor] = []

    def keep(_module, _inputs, output):
        captured.append(output[1] if isinstance(output, tuple) else output)

    pre = [(m, _need_weights) for m in modules if isinstance(m, nn.MultiheadAttention)]
    with eval_mode(model), hooks(pre, pre=True), hooks([(m, keep) for m in modules]):
        logits = run_model(model, images)
    if len(captured) != len(modules) or any(not isinstance(a, torch.Tensor) or a.dim() != 4 for a in captured):
        raise TypeError(f"{type(model).__name__}: expected {len(modules)} attention maps [B, heads, N, N] from "
                        f"one forward pass, got {len(captured)}")
    return logits, captured


def capture_attentions(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits and each layer's attention probabilities ``[B, heads, N, N]``, first layer first.

    Works for ``TinyViT`` (hooks on ``blocks[i].attn.softmax``) and torchvision's
    ``VisionTransformer`` (hooks on ``encoder.layers[i].self_attention``, asked for its
    per-head weights). Runs in eval mode without gradients; hooks removed, modes restored.
    """
    with torch.no_grad():
        return _forward_capturing(model, images, "attention_rollout")


def _fuse_heads(attention: torch.Tensor, head_fusion: str, discard_ratio: float) -> torch.Tensor:
    """Heads fused ``[B, N, N]``; the lowest ``discard_ratio`` of entries zeroed, except entry
    (0, 0) (CLS to CLS), as jacobgil/vit-explain does."""
    fused = {"mean": attention.mean, "max": attention.amax, "min": attention.amin}[head_fusion](dim=1)
    drop = int(fused[0].numel() * discard_ratio)
    if drop:
        flat = fused.flatten(1)
        lowest = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, flat.topk(drop, dim=1, largest=False).indices,
                                                                   True)
        lowest[:, 0] = False
        fused = flat.masked_fill(lowest, 0.0).view_as(fused)
    return fused


def _check_rollout_options(head_fusion, discard_ratio) -> None:
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion={head_fusion!r}: use one of {HEAD_FUSIONS}")
    if isinstance(discard_ratio, bool) or not isinstance(discard_ratio, Real) or not 0 <= discard_ratio < 1:
        raise ValueError(f"discard_ratio must be a number in [0, 1), got {discard_ratio!r}")


def rollout(
    attentions: Sequence[torch.Tensor], *, head_fusion: str = "mean", discard_ratio: float = 0.0, start_layer: int = 0
) -> torch.Tensor:
    """Attention rollout ``[B, N, N]`` (Abnar & Zuidema, 2020) from per-layer ``[B, heads, N, N]``.

    Per layer from ``start_layer`` on: fuse the heads (``"mean"``, ``"max"`` or ``"min"``),
    zero the lowest ``discard_ratio`` of entries, A' = 0.5 A + 0.5 I with rows renormalized to
    sum to 1 (a no-op for mean fusion without discarding), and multiply: R = A'_L ... A'_1.
    Row i of R says how much of output token i flows from each input token; rows sum to 1.
    """
    _check_rollout_options(head_fusion, discard_ratio)
    if not attentions or any(not isinstance(a, torch.Tensor) or a.dim() != 4 or a.shape[-1] != a.shape[-2]
                             or a.shape[0] != attentions[0].shape[0] or a.shape[-1] != attentions[0].shape[-1]
                             for a in attentions):
        raise ValueError("attentions must be a non-empty sequence of [B, heads, N, N] tensors, one per layer, "
                         "all with the same B and N")
    if isinstance(start_layer, bool) or not isinstance(start_layer, Integral) or not 0 <= start_layer < len(attentions):
        raise ValueError(f"start_layer must be an int from 0 to {len(attentions) - 1} (the model has "
                         f"{len(attentions)} attention layers), got {start_layer!r}")
    batch, _, n, _ = attentions[0].shape
    result = torch.eye(n, dtype=attentions[0].dtype, device=attentions[0].device).expand(batch, n, n)
    for attention in attentions[start_layer:]:
        step = 0.5 * _fuse_heads(attention, head_fusion, discard_ratio) + 0.5 * torch.eye(n).to(attention)
        result = (step / step.sum(dim=-1, keepdim=True)) @ result
    return result


def _token_layout(model: nn.Module, images: torch.Tensor) -> tuple[tuple[int, int], int, str]:
    """(grid, prefix_tokens, head) of TinyViT or torchvision's VisionTransformer."""
    if hasattr(model, "grid") and hasattr(model, "prefix_tokens"):
        return tuple(model.grid), model.prefix_tokens, getattr(model, "head", "cls" if model.prefix_tokens else "mean")
    patch = getattr(model, "patch_size", None)  # torchvision: one class token, square patches
    if not isinstance(patch, int):
        raise TypeError(f"{type(model).__name__} has neither grid/prefix_tokens nor patch_size: the token grid "
                        "is unknown")
    return (images.shape[-2] // patch, images.shape[-1] // patch), 1, "cls"


def attention_rollout(
    model: nn.Module, images: torch.Tensor, *, head_fusion: str = "mean", discard_ratio: float = 0.0,
    start_layer: int = 0,
) -> torch.Tensor:
    """Attention rollout maps ``[B, h, w]`` over the patch grid (Abnar & Zuidema, ACL 2020).

    For a CLS head (``TinyViT(head="cls")``, torchvision's ``VisionTransformer``) the map is
    the CLS token's row of ``rollout(...)`` over the patch tokens. For a mean head, whose
    output is the average of the patch tokens, it is the average of their rows. Raw values:
    no normalization, no resizing. One forward pass in eval mode without gradients; hooks
    removed and train/eval flags restored. The map explains the network's token mixing, not
    a class: it is the same for every class.
    """
    _check_rollout_options(head_fusion, discard_ratio)
    _, attentions = capture_attentions(model, images)
    grid, prefix, head = _token_layout(model, images)
    flow = rollout(attentions, head_fusion=head_fusion, discard_ratio=discard_ratio, start_layer=start_layer)
    return _output_row(flow, grid, prefix, head)


def _output_row(flow: torch.Tensor, grid: tuple[int, int], prefix: int, head: str) -> torch.Tensor:
    """``[B, N, N]`` token-to-token relevance -> ``[B, h, w]``: the row of the token the head reads
    (CLS), or for a mean head, whose output is the average of the patch tokens, the average of
    their rows; over the patch tokens, laid on the grid."""
    _check_token_count(flow.shape[-1], grid, prefix)
    rows = flow[:, 0] if head == "cls" else flow[:, prefix:].mean(dim=1)
    return rows[:, prefix:].unflatten(1, grid)


# --- gradient-weighted attention (Chefer et al.) -------------------------------------------


def _probabilities_used(attention: torch.Tensor, name: str) -> torch.Tensor:
    """The attention probabilities the forward pass multiplied with the values. TinyViT's softmax
    returns them itself. ``nn.MultiheadAttention`` returns a ``[B, heads, N, N]`` *view* of its
    ``[B * heads, N, N]`` probabilities: the view has no gradient of its own, its base has."""
    base = attention._base
    if base is None:
        return attention
    if base.numel() != attention.numel() or not base.requires_grad:
        raise TypeError(f"{name}: its attention weights are not a view of the probabilities its forward pass "
                        "used (a torch version with other internals?), so chefer_relevance cannot weigh them: "
                        "use camlib.TinyViT or attention_rollout")
    return base


def _attentions_and_gradients(model: nn.Module, images: torch.Tensor, classes) -> tuple[list, list]:
    """Each layer's attention probabilities A_l ``[B, heads, N, N]`` and dS/dA_l, where S is the
    sum over the batch of each image's target-class logit (images are independent in eval mode)."""
    check_grad_mode("chefer_relevance")
    check_images(images, model)
    pixels = images.detach().requires_grad_(True)  # a graph to the attentions even if every parameter is frozen
    logits, captured = _forward_capturing(model, pixels, "chefer_relevance")
    scores = logits.gather(1, target_classes(logits, classes)[:, None]).sum()
    # Gradients to the attentions only (the total derivative, through the later layers too):
    # no parameter's .grad is written.
    used = [_probabilities_used(attention, type(model).__name__) for attention in captured]
    gradients = torch.autograd.grad(scores, used)
    return ([attention.detach() for attention in captured],
            [gradient.view_as(attention) for gradient, attention in zip(gradients, captured)])


def chefer_relevance(
    model: nn.Module, images: torch.Tensor, classes: torch.Tensor | Sequence[int] | None = None
) -> torch.Tensor:
    """Gradient-weighted attention relevance maps ``[B, h, w]`` over the patch grid (Chefer, Gur &
    Wolf, ICCV 2021, "Generic Attention-model Explainability"; hila-chefer/Transformer-MM-Explainability,
    ViT ``generate_relevance``).

    With A_l the attention probabilities of layer l ``[heads, N, N]`` and S_c the class logit:

        Abar_l = mean over heads of max(0, dS_c/dA_l * A_l),   R_0 = I,   R_l = R_{l-1} + Abar_l R_{l-1},

    and the map is the CLS token's row of R_L over the patch tokens (for a mean head, the average
    of the patch tokens' rows, as in ``attention_rollout``). Unlike rollout it depends on the class.

    Args:
        model: ``camlib.TinyViT`` (either head) or torchvision's ``VisionTransformer`` (its
            ``nn.MultiheadAttention`` asked for per-head weights, differentiated through the
            probabilities they are a view of).
        images: ``[B, C, H, W]`` on the model's device.
        classes: one class index per image (``[c] * len(images)`` for one class c); ``None``
            takes each image's predicted class.

    Raw values: no normalization, no resizing. One forward and one backward pass in eval mode;
    hooks removed, train/eval flags restored, no parameter's ``.grad`` written.
    """
    attentions, gradients = _attentions_and_gradients(model, images, classes)
    grid, prefix, head = _token_layout(model, images)
    batch, _, n, _ = attentions[0].shape
    relevance = torch.eye(n, dtype=attentions[0].dtype, device=attentions[0].device).expand(batch, n, n)
    for attention, gradient in zip(attentions, gradients):
        weighted = (gradient * attention).clamp_min(0).mean(dim=1)  # keep the heads' positive, class-relevant part
        relevance = relevance + weighted @ relevance  # the residual connection carries R_{l-1} through unchanged
    return _output_row(relevance, grid, prefix, head)
