"""Grad-CAM (Selvaraju et al., ICCV 2017), guided backpropagation and Guided Grad-CAM.

Grad-CAM weighs the maps A^k of any layer by the spatial mean of the gradient of the class
score, alpha^c_k = (1/Z) sum_{x,y} dS_c / dA^k(x, y), and returns ReLU(sum_k alpha^c_k A^k).
For a GAP network and its last conv maps, dS_c/dA^k(x, y) = w^c_k / Z everywhere, so Grad-CAM
is ReLU(M_c) / Z: the CAM, up to a constant and a ReLU (notebook 04 proves it).

How this implementation stays cheap and clean:

* The layers *before* the target run under ``torch.no_grad()``: no autograd graph is built
  there. A forward hook on the target turns its output into a fresh leaf tensor that requires
  grad and switches recording on for the rest of the network. ``torch.autograd.grad`` then
  walks back only from the scores to that leaf: one forward pass plus the backward of the
  layers after the target, not of the whole network.
* Gradients go to that leaf only: no parameter's ``.grad`` is written, and frozen parameters
  (``requires_grad=False``) work as they are.
* The module hands the rest of the network a *copy* of the leaf, so an in-place ReLU after
  the target cannot overwrite the stored activation.
* Hooks live in ``with`` blocks, so they are removed even when the forward raises; the
  model runs in eval mode and every submodule's train/eval flag is restored afterwards.
* A vision transformer's layers return tokens ``[B, N, K]``, not maps: ``reshape`` (e.g.
  ``camlib.token_reshape(grid, prefix_tokens)``) lays the activation and its gradient on
  the patch grid ``[B, K, h, w]`` before the weights and the weighted sum, as
  pytorch-grad-cam's ``reshape_transform`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from camlib._checks import check_flag
from camlib._guards import (
    activations_and_gradients,
    check_grad_mode,
    check_images,
    check_model,
    eval_mode,
    hooks,
    run_model,
    target_classes,
)
from camlib.methods.cam import upsample_cams


def grad_cam(
    model: nn.Module,
    layer: nn.Module | str,
    images: torch.Tensor,
    classes: torch.Tensor | Sequence[int] | None = None,
    *,
    relu: bool = True,
    counterfactual: bool = False,
    reshape: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Grad-CAM maps ``[B, h, w]`` at ``layer``'s resolution, one class per image.

    Args:
        model: any classifier returning logits ``[B, num_classes]``.
        layer: the module (or its dotted name) whose output ``[B, K, h, w]`` is explained;
            if the forward calls it several times, the last call counts.
        images: ``[B, C, H, W]``.
        classes: one class index per image; ``None`` takes each image's predicted class.
        relu: apply the ReLU of the paper (``False`` keeps negative evidence).
        counterfactual: negate the gradients (the paper's counterfactual explanations: where
            the evidence *against* the class lies).
        reshape: for a layer that returns tokens ``[B, N, K]`` (a vision transformer), a
            callable that lays them out as maps ``[B, K, h, w]``, applied to the activation and
            to its gradient: ``camlib.token_reshape(grid, prefix_tokens)``. For a CLS-token
            ViT pick a layer before the last attention (``encoder.layers[-1].ln_1`` of
            torchvision's ViT, ``blocks[-1].norm1`` of ``TinyViT``): after it, only the CLS
            token reaches the logits and the patch tokens' gradients are 0.

    Returns raw maps: no normalization, no resizing (see ``camlib.methods.cam.upsample_cams`` and
    ``normalize_cams``).
    """
    check_flag(relu, "relu")
    check_flag(counterfactual, "counterfactual")
    activation, gradients, name = activations_and_gradients(model, layer, images, classes, "grad_cam", reshape)
    if counterfactual:
        gradients = -gradients
    weights = gradients.mean(dim=(-2, -1))  # alpha^c_k: [B, K]
    maps = torch.einsum("bkhw,bk->bhw", activation, weights)
    if not torch.isfinite(maps).all():
        raise ValueError(f"the Grad-CAM maps at layer {name!r} are not finite: the model's activations or "
                         "gradients overflow (NaN or inf); check its weights and the images' scale")
    return maps.clamp_min(0) if relu else maps


class _GuidedReLU(torch.autograd.Function):
    """Identity forward; backward passes only positive gradients (Springenberg et al., 2015).

    Placed after an ``nn.ReLU``, whose own backward already zeroes the gradient where its
    input was negative, this makes the ReLU's backward guided.
    """

    @staticmethod
    def forward(ctx, output: torch.Tensor) -> torch.Tensor:
        return output.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.clamp_min(0)


def _guided(_module, _inputs, output):
    return _GuidedReLU.apply(output)


def guided_backprop(
    model: nn.Module, images: torch.Tensor, classes: torch.Tensor | Sequence[int] | None = None
) -> torch.Tensor:
    """Guided backpropagation: d S_c / d image with every ``nn.ReLU`` passing only positive
    gradients, ``[B, C, H, W]``. ReLUs called as functions (``F.relu``) are not guided."""
    check_grad_mode("guided_backprop")
    check_images(images, check_model(model))
    relus = [(module, _guided) for module in model.modules() if isinstance(module, nn.ReLU)]
    if not relus:
        raise ValueError(f"{type(model).__name__} has no nn.ReLU modules for guided backpropagation")
    pixels = images.detach().requires_grad_(True)
    with eval_mode(model), hooks(relus):
        logits = run_model(model, pixels)
        targets = target_classes(logits, classes)
        (gradients,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), pixels)
    return gradients


def guided_grad_cam(
    model: nn.Module,
    layer: nn.Module | str,
    images: torch.Tensor,
    classes: torch.Tensor | Sequence[int] | None = None,
) -> torch.Tensor:
    """Guided Grad-CAM: guided backpropagation times the Grad-CAM map upsampled to the image,
    ``[B, C, H, W]``. ``classes=None`` explains each image's predicted class."""
    if classes is None:
        check_images(images, model)
        with torch.no_grad(), eval_mode(model):
            classes = run_model(model, images).argmax(dim=1)
    maps = upsample_cams(grad_cam(model, layer, images, classes), tuple(images.shape[-2:]))
    return guided_backprop(model, images, classes) * maps[:, None]
