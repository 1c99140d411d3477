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
  head, where a ``.backward()`` through the whole network would cost about two more forwards.
* Gradients go to that leaf only: no parameter's ``.grad`` is written, and frozen parameters
  (``requires_grad=False``) work as they are.
* The module hands the rest of the network a *copy* of the leaf, so an in-place ReLU after
  the target cannot overwrite the stored activation.
* Hooks live in ``with`` blocks, so they are removed even when the forward raises; the
  model runs in eval mode and every submodule's train/eval flag is restored afterwards.
* A vision transformer's layers return tokens ``[B, N, K]``, not maps: ``reshape`` (e.g.
  ``camlib.vit.token_reshape(grid, prefix_tokens)``) lays the activation and its gradient on
  the patch grid ``[B, K, h, w]`` before the weights and the weighted sum, as
  pytorch-grad-cam's ``reshape_transform`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from camlib.cam import _as_class_indices, check_images, check_model, eval_mode, run_model, upsample_cams


def _resolve_layer(model: nn.Module, layer: nn.Module | str) -> tuple[nn.Module, str]:
    check_model(model)
    if not isinstance(layer, nn.Module | str):
        raise TypeError(f"layer must be a submodule of the model or its dotted name (e.g. 'layer4'), "
                        f"got {type(layer).__name__}")
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer), layer
        except AttributeError as missing:
            raise ValueError(
                f"{type(model).__name__} has no submodule {layer!r}; list the names with "
                "[name for name, _ in model.named_modules()]"
            ) from missing
    names = {module: name for name, module in model.named_modules()}
    if layer not in names:
        raise ValueError(f"the layer {type(layer).__name__} is not a submodule of {type(model).__name__}")
    return layer, names[layer] or type(model).__name__


def _check_grad_mode(function: str) -> None:
    if torch.is_inference_mode_enabled() or not torch.is_grad_enabled():
        raise RuntimeError(
            f"{function} needs gradients, but it was called inside torch.no_grad() or "
            f"torch.inference_mode(). Call it outside that block, or wrap the call in "
            f"`with torch.enable_grad():`."
        )


class _ActivationCapture:
    """Forward hook: keep the layer's output as a leaf that requires grad; record from there on."""

    def __init__(self, layer: nn.Module, name: str, start_recording: bool, any_shape: bool = False):
        self.layer, self.name, self.start_recording = layer, name, start_recording
        self.any_shape = any_shape  # a reshape turns the output into maps later
        self.activation: torch.Tensor | None = None

    def __enter__(self) -> _ActivationCapture:
        self.handle = self.layer.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()

    def _hook(self, module: nn.Module, inputs, output):
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"layer {self.name!r} returns {type(output).__name__}, not a tensor; pick a layer "
                "whose output is the [B, K, h, w] feature maps"
            )
        if output.dim() == 3 and not self.any_shape:
            raise ValueError(
                f"layer {self.name!r} returns tokens of shape {list(output.shape)} ([B, N, K], as in a vision "
                "transformer), but Grad-CAM weighs [B, K, h, w] maps: pass "
                "reshape=camlib.vit.token_reshape(grid, prefix_tokens) to lay the tokens on the patch grid"
            )
        if output.dim() != 4 and not self.any_shape:
            raise ValueError(
                f"layer {self.name!r} returns shape {list(output.shape)}, but Grad-CAM weighs [B, K, h, w] "
                "feature maps: pick a convolutional layer (e.g. the last conv block), not a pooled or linear one"
            )
        if self.start_recording:
            torch.set_grad_enabled(True)  # the no_grad block of the caller restores it
        self.activation = output.detach().requires_grad_(True)
        return self.activation.clone()  # the network goes on with a copy: in-place ops can't touch ours

    def result(self) -> torch.Tensor:
        if self.activation is None:
            raise ValueError(
                f"layer {self.name!r} was never called during the forward pass, so it has no "
                "activation to explain; pick a module the forward uses (e.g. the last conv block)"
            )
        return self.activation


def _target_classes(logits: torch.Tensor, classes) -> torch.Tensor:
    if classes is None:
        return logits.argmax(dim=1)
    return _as_class_indices(classes, logits.shape[0], logits.shape[1]).to(logits.device)


def _check_reshape(reshape) -> None:
    if reshape is not None and not callable(reshape):
        raise TypeError(f"reshape must be a callable [B, N, K] -> [B, K, h, w] (e.g. camlib.vit.token_reshape(grid, "
                        f"prefix_tokens)) or None, got {type(reshape).__name__}")


def _reshaped(reshape: Callable[[torch.Tensor], torch.Tensor], activation: torch.Tensor,
              gradients: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's output and its gradient laid out as maps ``[B, K, h, w]`` by ``reshape``; refused
    when the layer reaches the scores only through its prefix (CLS) tokens, whose maps would be blank."""
    maps, grads = reshape(activation), reshape(gradients)
    if not isinstance(maps, torch.Tensor) or maps.dim() != 4 or maps.shape[0] != activation.shape[0] \
            or not isinstance(grads, torch.Tensor) or grads.shape != maps.shape:
        got = list(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ValueError(f"reshape turned layer {name!r}'s output of shape {list(activation.shape)} into {got}; it "
                         "must return maps [B, K, h, w], e.g. reshape=camlib.vit.token_reshape(grid, prefix_tokens)")
    if gradients.any() and not grads.any():  # a blank map would read as "no evidence"
        raise ValueError(f"at layer {name!r} only the prefix (CLS) tokens reach the class scores: the patch "
                         "tokens' gradients are 0. Pick a layer before the last attention (blocks[-1].norm1 of "
                         "TinyViT, encoder.layers[-1].ln_1 of torchvision's ViT)")
    return maps, grads


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
            to its gradient: ``camlib.vit.token_reshape(grid, prefix_tokens)``. For a CLS-token
            ViT pick a layer before the last attention (``encoder.layers[-1].ln_1`` of
            torchvision's ViT, ``blocks[-1].norm1`` of ``TinyViT``): after it, only the CLS
            token reaches the logits and the patch tokens' gradients are 0.

    Returns raw maps: no normalization, no resizing (see ``camlib.cam.upsample_cams`` and
    ``normalize_cams``).
    """
    _check_grad_mode("grad_cam")
    check_images(images, model)
    module, name = _resolve_layer(model, layer)
    if not isinstance(relu, bool) or not isinstance(counterfactual, bool):
        raise TypeError(f"relu and counterfactual must be True or False, got {relu!r} and {counterfactual!r}")
    _check_reshape(reshape)
    capture = _ActivationCapture(module, name, start_recording=True, any_shape=reshape is not None)
    with eval_mode(model), capture:
        with torch.no_grad():
            logits = run_model(model, images)
        activation = capture.result()
    targets = _target_classes(logits, classes)
    if not logits.requires_grad:
        raise RuntimeError(
            f"the class scores do not depend on layer {name!r} through autograd (is its output "
            "detached, or used under torch.no_grad() inside the model?)"
        )
    scores = logits.gather(1, targets[:, None]).sum()  # images are independent in eval mode
    (gradients,) = torch.autograd.grad(scores, activation, allow_unused=True)
    if gradients is None:
        raise RuntimeError(f"the class scores do not depend on layer {name!r} through autograd: pick a layer on "
                           "their path, or remove the .detach() (or torch.no_grad()) after it in the model's forward")
    activation = activation.detach()
    if reshape is not None:
        activation, gradients = _reshaped(reshape, activation, gradients, name)
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


@contextmanager
def _guided_relus(model: nn.Module) -> Iterator[int]:
    handles = [
        module.register_forward_hook(lambda _module, _inputs, output: _GuidedReLU.apply(output))
        for module in model.modules()
        if isinstance(module, nn.ReLU)
    ]
    try:
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()


def guided_backprop(
    model: nn.Module, images: torch.Tensor, classes: torch.Tensor | Sequence[int] | None = None
) -> torch.Tensor:
    """Guided backpropagation: d S_c / d image with every ``nn.ReLU`` passing only positive
    gradients, ``[B, C, H, W]``. ReLUs called as functions (``F.relu``) are not guided."""
    _check_grad_mode("guided_backprop")
    check_images(images, model)
    pixels = images.detach().requires_grad_(True)
    with eval_mode(model), _guided_relus(model) as guided:
        if guided == 0:
            raise ValueError(f"{type(model).__name__} has no nn.ReLU modules for guided backpropagation")
        logits = run_model(model, pixels)
        targets = _target_classes(logits, classes)
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
