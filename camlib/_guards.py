"""Model guards and the one forward-hook capture every method uses.

Guards: a model is an ``nn.Module``, images are finite float ``[B, C, H, W]`` on its device, a
forward that fails says which images it could not take, and nothing about the model changes (its
train/eval flags, hooks and tensor layouts are put back). Capture: ``hooks`` registers forward
hooks that are removed on exit, ``ActivationCapture`` keeps a layer's output as a leaf that
requires grad, and ``activations_and_gradients`` is the capture-and-differentiate step shared by
Grad-CAM, Grad-CAM++, HiResCAM and LayerCAM (docs/design.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import nn

from camlib._checks import as_class_indices, check_finite


def check_model(model) -> nn.Module:
    """``model`` itself when it is a ``torch.nn.Module``, else a ``TypeError`` that says what it is."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def check_images(images: torch.Tensor, model: nn.Module | None = None) -> None:
    """``images`` must be a finite float ``[B, C, H, W]`` tensor on the model's device and in its dtype."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch tensor [B, C, H, W], got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(
            f"images must be [B, C, H, W], got shape {list(images.shape)}; "
            "for a single image use image.unsqueeze(0)"
        )
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point, got {images.dtype}: e.g. images.float() / 255")
    check_finite(images, "the images")
    if model is None:
        return
    parameter = next(check_model(model).parameters(), None)
    if parameter is not None and (parameter.device != images.device or parameter.dtype != images.dtype):
        raise ValueError(
            f"the images are {images.dtype} on {images.device}, the model's parameters {parameter.dtype} on "
            f"{parameter.device}: move one to the other, e.g. images.to(next(model.parameters()))"
        )


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Run in eval mode (BatchNorm's running statistics, no dropout, nothing updated); put
    every submodule's train/eval flag back afterwards."""
    flags = [(module, module.training) for module in check_model(model).modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


@contextmanager
def explained_errors(model: nn.Module, images: torch.Tensor) -> Iterator[None]:
    """Turn torch's error for images a model cannot take into one that names their shape."""
    try:
        yield
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        grey = images.dim() == 4 and images.shape[1] == 1 and "to have 3 channels" in first
        fix = ("These are grey images and the model takes colour: repeat the channel, images.expand(-1, 3, -1, -1), "
               "then normalize as its weights expect." if grey
               else "Check the channels and size the model was built for.")
        raise ValueError(f"{type(model).__name__} could not run on images of shape {list(images.shape)} "
                         f"({images.dtype}): {first}. {fix}") from error


def check_logits(logits, images: torch.Tensor) -> torch.Tensor:
    """Logits must be ``[B, num_classes]``, one row per image."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        shape = list(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"the model must return logits [B, num_classes], got {shape}")
    if logits.shape[0] != images.shape[0]:
        raise ValueError(
            f"the model returned {logits.shape[0]} rows of logits for {images.shape[0]} images: its forward "
            "must keep the batch (one row of class scores per image)"
        )
    if logits.shape[1] == 0:
        raise ValueError("the model returned logits for 0 classes")
    return logits


def run_model(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``model(images)`` with ``explained_errors`` and ``check_logits``."""
    with explained_errors(check_model(model), images):
        logits = model(images)
    return check_logits(logits, images)


def target_classes(logits: torch.Tensor, classes) -> torch.Tensor:
    """One class per image: ``classes`` checked against the logits, or each image's prediction when ``None``."""
    if classes is None:
        return logits.argmax(dim=1)
    return as_class_indices(classes, logits.shape[0], logits.shape[1]).to(logits.device)


@contextmanager
def channels_last_on_cpu(model: nn.Module, images: torch.Tensor) -> Iterator[bool]:
    """Hold the model's 4-D weights (conv kernels) in ``torch.channels_last`` while scoring many
    perturbed images on the CPU; put every tensor back afterwards. Yields whether it did.

    Why: PyTorch's CPU convolutions (oneDNN) run small networks faster in channels_last than in
    the default layout (``benchmarks/faithfulness_speed.py`` measures by how much). Values change by
    float rounding only. Skipped on other devices, without oneDNN, for models without 4-D weights,
    and for a model that fails on one image in that layout (a ``.view`` of a conv output, say). Use
    inside ``torch.no_grad()`` and ``eval_mode``. The model's own tensors get their data back, so
    references to them (an optimizer's) stay valid.
    """
    weights = [t for t in (*model.parameters(), *model.buffers()) if t.dim() == 4]
    on_cpu = isinstance(images, torch.Tensor) and images.device.type == "cpu"
    if not (on_cpu and weights and torch.backends.mkldnn.is_available()):
        yield False
        return
    originals = [t.data for t in weights]

    def put_back():
        for tensor, original in zip(weights, originals):
            tensor.data = original

    for tensor in weights:
        tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    try:
        try:
            model(images[:1])  # a probe: does the model run in this layout at all?
            works = True
        except Exception:  # noqa: BLE001 -- any failure means: run the model as it was built
            works = False
        if not works:  # yielded outside the handler, so later errors do not chain to the probe's
            put_back()
        yield works
    finally:
        put_back()


def progress_bar(iterable, description: str, enabled: bool):
    """``tqdm.auto.tqdm`` over ``iterable`` when ``enabled``, else the iterable itself (tqdm not even imported)."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=description)


# --- hooks ---------------------------------------------------------------------------------


@contextmanager
def hooks(pairs, *, pre: bool = False) -> Iterator[None]:
    """Forward hooks (``pre=True``: forward pre-hooks with kwargs) on ``(module, hook)`` pairs,
    removed on exit even when the forward raises."""
    with ExitStack() as stack:
        for module, hook in pairs:
            handle = (module.register_forward_pre_hook(hook, with_kwargs=True) if pre
                      else module.register_forward_hook(hook))
            stack.callback(handle.remove)
        yield


def resolve_layer(model: nn.Module, layer: nn.Module | str) -> tuple[nn.Module, str]:
    """The submodule ``layer`` (a module or its dotted name) and its name."""
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


def check_grad_mode(function: str) -> None:
    """Gradient methods refuse to run where autograd is off, with the fix."""
    if torch.is_inference_mode_enabled() or not torch.is_grad_enabled():
        raise RuntimeError(
            f"{function} needs gradients, but it was called inside torch.no_grad() or "
            f"torch.inference_mode(). Call it outside that block, or wrap the call in "
            f"`with torch.enable_grad():`."
        )


class ActivationCapture:
    """Forward hook: keep the layer's output as a leaf that requires grad; record from there on.

    Why a leaf: the layers before it then run under ``torch.no_grad()`` (no graph is built
    there), and ``torch.autograd.grad`` walks back only from the scores to this leaf, without
    writing any parameter's ``.grad``. The network goes on with a copy, so an in-place ReLU after
    the layer cannot overwrite the stored activation.
    """

    def __init__(self, layer: nn.Module, name: str, start_recording: bool, any_shape: bool = False):
        self.layer, self.name, self.start_recording = layer, name, start_recording
        self.any_shape = any_shape  # a reshape turns the output into maps later
        self.activation: torch.Tensor | None = None

    def __enter__(self) -> ActivationCapture:
        self.handle = self.layer.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()

    def _hook(self, module: nn.Module, inputs, output):
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"layer {self.name!r} returns {type(output).__name__}, not a tensor; pick a layer "
                            "whose output is the [B, K, h, w] feature maps")
        if output.dim() == 3 and not self.any_shape:
            raise ValueError(
                f"layer {self.name!r} returns tokens of shape {list(output.shape)} ([B, N, K], as in a vision "
                "transformer), but Grad-CAM weighs [B, K, h, w] maps: pass "
                "reshape=camlib.token_reshape(grid, prefix_tokens) to lay the tokens on the patch grid"
            )
        if output.dim() != 4 and not self.any_shape:
            raise ValueError(
                f"layer {self.name!r} returns shape {list(output.shape)}, but Grad-CAM weighs [B, K, h, w] "
                "feature maps: pick a convolutional layer (e.g. the last conv block), not a pooled or linear one"
            )
        if self.start_recording:
            # The caller runs the forward under torch.no_grad(), so the layers before this one build no
            # graph. From here on autograd must record: switch it on now; leaving the caller's no_grad
            # block puts the previous mode back, so nothing outside the call changes.
            torch.set_grad_enabled(True)
        self.activation = output.detach().requires_grad_(True)
        return self.activation.clone()

    def result(self) -> torch.Tensor:
        if self.activation is None:
            raise ValueError(
                f"layer {self.name!r} was never called during the forward pass, so it has no "
                "activation to explain; pick a module the forward uses (e.g. the last conv block)"
            )
        return self.activation


def check_reshape(reshape) -> None:
    if reshape is not None and not callable(reshape):
        raise TypeError(f"reshape must be a callable [B, N, K] -> [B, K, h, w] (e.g. camlib.token_reshape(grid, "
                        f"prefix_tokens)) or None, got {type(reshape).__name__}")


def reshaped(reshape: Callable[[torch.Tensor], torch.Tensor], activation: torch.Tensor,
             gradients: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's output and its gradient laid out as maps ``[B, K, h, w]`` by ``reshape``; refused
    when the layer reaches the scores only through its prefix (CLS) tokens, whose maps would be blank."""
    maps, grads = reshape(activation), reshape(gradients)
    if not isinstance(maps, torch.Tensor) or maps.dim() != 4 or maps.shape[0] != activation.shape[0] \
            or not isinstance(grads, torch.Tensor) or grads.shape != maps.shape:
        got = list(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ValueError(f"reshape turned layer {name!r}'s output of shape {list(activation.shape)} into {got}; it "
                         "must return maps [B, K, h, w], e.g. reshape=camlib.token_reshape(grid, prefix_tokens)")
    if gradients.any() and not grads.any():  # a blank map would read as "no evidence"
        raise ValueError(f"at layer {name!r} only the prefix (CLS) tokens reach the class scores: the patch "
                         "tokens' gradients are 0. Pick a layer before the last attention (blocks[-1].norm1 of "
                         "TinyViT, encoder.layers[-1].ln_1 of torchvision's ViT)")
    return maps, grads


def activations_and_gradients(model: nn.Module, layer: nn.Module | str, images: torch.Tensor, classes,
                              function: str, reshape=None) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The capture-and-differentiate step: the layer's output A ``[B, K, h, w]`` (tokens laid on
    their grid by ``reshape``), dS_c/dA for one class per image, and the layer's name. One forward
    pass, and the backward of the layers after ``layer`` only."""
    check_grad_mode(function)
    check_images(images, model)
    module, name = resolve_layer(model, layer)
    check_reshape(reshape)
    capture = ActivationCapture(module, name, start_recording=True, any_shape=reshape is not None)
    with eval_mode(model), capture:
        with torch.no_grad():
            logits = run_model(model, images)
        activation = capture.result()
    targets = target_classes(logits, classes)
    if not logits.requires_grad:
        raise RuntimeError(f"the class scores do not depend on layer {name!r} through autograd (is its output "
                           "detached, or used under torch.no_grad() inside the model?)")
    scores = logits.gather(1, targets[:, None]).sum()  # images are independent in eval mode
    (gradients,) = torch.autograd.grad(scores, activation, allow_unused=True)
    if gradients is None:
        raise RuntimeError(f"the class scores do not depend on layer {name!r} through autograd: pick a layer on "
                           "their path, or remove the .detach() (or torch.no_grad()) after it in the model's forward")
    activation = activation.detach()
    if reshape is not None:
        activation, gradients = reshaped(reshape, activation, gradients, name)
    return activation, gradients, name
