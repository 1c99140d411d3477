"""Sanity checks for saliency maps (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018).

Two randomization tests ask whether a map depends on what it claims to explain:

* **Model randomization.** Re-initialise the weights layer by layer, from the logits down
  (*cascading*), or one layer at a time (*independent*), and compare each map with the map of
  the trained model. A map that stays the same explains the architecture, not the learning.
  ``cascading_randomization`` and ``independent_randomization`` work on a deep copy: the
  caller's model, its train/eval flags and the global random stream are left as they were.
* **Data randomization.** Train the same network on labels permuted at random
  (``shuffled_labels``) and compare its maps with those of the network trained on true labels.

Similarities, one number per image (``spearman_similarity``, ``ssim_similarity``), follow the
paper: Spearman rank correlation with and without absolute values, and SSIM. A constant map
(e.g. an all-zero Grad-CAM of a randomized network, killed by its ReLU) has no ranking and no
structure, so its similarity is undefined: it is ``nan``, as scipy returns, never 0, which
would read as "measured: uncorrelated" and drag averages toward a number nobody measured.
Summarize with ``torch.nanmean`` and say how many were ``nan``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from camlib._checks import check_int
from camlib._guards import check_images, check_model, eval_mode, progress_bar, run_model, target_classes

NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
ORIGINAL = "original"
"""The key of the trained model's maps in the dictionaries returned here (Quantus's key too)."""


# --- model randomization ----------------------------------------------------------------------


def randomizable_layers(model: nn.Module, *, include_norm: bool = False) -> list[str]:
    """Dotted names of the modules with a ``reset_parameters`` method, top (logits) first.

    "Top down" is the reverse of registration order (``model.named_modules()``), which is the
    reverse of the forward order for sequential networks such as ``GAPNet`` (``classifier``,
    then the last conv of ``features``, ...). Normalization layers are left out unless
    ``include_norm=True``: their ``reset_parameters`` is no random draw but a reset to the
    identity (weight 1, bias 0, running mean 0 and variance 1). Quantus 0.6's MPRT randomizes
    every module with ``reset_parameters``, i.e. ``include_norm=True``.
    """
    check_model(model)
    names = [name for name, module in model.named_modules()
             if name and callable(getattr(module, "reset_parameters", None))
             and (include_norm or not isinstance(module, NORM_LAYERS))]
    return names[::-1]


def _check_layer_names(model: nn.Module, names) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise ValueError(f"layer names must be a non-empty list of dotted module names, e.g. "
                         f"camlib.metrics.sanity.randomizable_layers(model); got {names!r}")
    known = randomizable_layers(model, include_norm=True)
    for name in names:
        if not isinstance(name, str) or name not in known:
            raise ValueError(f"{name!r} is not a module of {type(model).__name__} with reset_parameters; "
                             f"the layers that can be randomized are {known}")
    if len(set(names)) != len(names) or ORIGINAL in names:
        raise ValueError(f"layer names must be distinct and not {ORIGINAL!r} (the key of the trained model's "
                         f"maps); got {list(names)}")
    return list(names)


def _reset(module: nn.Module, seed: int) -> None:
    """``module.reset_parameters()`` after ``torch.manual_seed(seed)``, inside ``torch.random.fork_rng``
    so that the global random stream (CPU, and the CUDA devices the module lives on) is restored."""
    cuda = sorted({p.device.index or 0 for p in module.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        module.reset_parameters()


def _fixed_classes(model: nn.Module, images: torch.Tensor, classes) -> torch.Tensor:
    """The classes to explain at every step: the given ones, or the trained model's predictions."""
    check_images(images, model)
    with torch.no_grad(), eval_mode(model):
        return target_classes(run_model(model, images), classes)


def _randomization(model, layer_names, method_fn, images, classes, seed, same_seed, independent, progress):
    check_model(model)
    names = _check_layer_names(model, layer_names)
    seed = check_int(seed, "seed", minimum=0)
    if seed + len(names) >= 2**63:  # torch.manual_seed(seed + i) must take every layer's seed
        raise ValueError(f"seed={seed} is too large: layer i is seeded with seed + i, which must stay below 2**63; "
                         "use a small seed such as 0")
    if not callable(method_fn):
        raise TypeError(f"method_fn must be a function (model, images, classes) -> maps [B, H, W], got {method_fn!r}")
    for name, flag in (("same_seed", same_seed), ("progress", progress)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    classes = _fixed_classes(model, images, classes)
    copied = copy.deepcopy(model)
    trained = copy.deepcopy(copied.state_dict()) if independent else None
    results = {ORIGINAL: _maps(method_fn, copied, images, classes, ORIGINAL)}
    for step, name in enumerate(progress_bar(names, "randomizing", progress)):
        if independent:
            copied.load_state_dict(trained)
        _reset(copied.get_submodule(name), seed if same_seed else seed + step)
        results[name] = _maps(method_fn, copied, images, classes, name)
    return results


def _maps(method_fn, model, images, classes, step: str) -> torch.Tensor:
    maps = method_fn(model, images, classes)
    if not isinstance(maps, torch.Tensor) or maps.dim() != 3 or maps.shape[0] != images.shape[0]:
        shape = list(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ValueError(f"method_fn must return maps [B, H, W], one per image; at step {step!r} it returned {shape}")
    return maps.detach()


def cascading_randomization(
    model: nn.Module,
    layer_names_top_down: Sequence[str],
    method_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    classes: torch.Tensor | Sequence[int] | None = None,
    *,
    seed: int = 0,
    same_seed: bool = False,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """Maps after re-initialising ``layer_names_top_down`` one after another, cumulatively.

    Returns ``{"original": maps of the trained model, name_1: maps once name_1 is random,
    name_2: maps once name_1 and name_2 are random, ...}``, each ``[B, H, W]``, in the given order
    (``randomizable_layers(model)`` lists them logits first, as Adebayo et al. randomize).

    Args:
        method_fn: ``(model, images, classes) -> [B, H, W]``, e.g.
            ``functools.partial(camlib.methods.attribution.attribution_maps, "grad_cam", layer="features")``.
            It receives a deep copy: give it layers by name, not as modules of ``model``.
        classes: the class explained in every image at every step; ``None`` takes the trained
            model's predictions once (as the paper does, the class does not follow the random model).
        seed: each layer is re-initialised by its own ``reset_parameters`` (PyTorch's default init,
            e.g. Kaiming-uniform for ``nn.Conv2d`` and ``nn.Linear``) after ``torch.manual_seed(seed + i)``
            for the i-th layer of the list, or ``torch.manual_seed(seed)`` for all when ``same_seed=True``.
            Quantus 0.6 seeds ``seed + 1`` before every layer: ``seed=quantus_seed + 1, same_seed=True``
            reproduces its randomized models exactly.
    """
    return _randomization(model, layer_names_top_down, method_fn, images, classes, seed, same_seed, False, progress)


def independent_randomization(
    model: nn.Module,
    layer_names: Sequence[str],
    method_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    classes: torch.Tensor | Sequence[int] | None = None,
    *,
    seed: int = 0,
    same_seed: bool = False,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """As ``cascading_randomization``, but each entry has *only* that layer re-initialised (the
    others keep their trained weights): which single layer does the map depend on?"""
    return _randomization(model, layer_names, method_fn, images, classes, seed, same_seed, True, progress)


# --- similarity of maps -----------------------------------------------------------------------


def _as_float64_maps(maps_a, maps_b) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for maps in (maps_a, maps_b):
        if isinstance(maps, torch.Tensor):
            maps = maps.detach().cpu().double().numpy()
        maps = np.asarray(maps, dtype=np.float64)
        if maps.ndim != 3:
            raise ValueError(f"maps must be [B, H, W] (one map per image); got shape {list(maps.shape)}. "
                             "For a single map use map[None]")
        if not np.isfinite(maps).all():
            raise ValueError("the maps contain NaN or infinite values; a similarity of them means nothing")
        arrays.append(maps)
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(f"the two sets of maps must have one shape; got {list(arrays[0].shape)} and "
                         f"{list(arrays[1].shape)} (upsample both to the image size first)")
    return arrays[0], arrays[1]


def _constant(a: np.ndarray) -> bool:
    return a.max() == a.min()


def _check_mask(mask, shape: tuple[int, ...]) -> np.ndarray:
    """``mask`` as a boolean array of ``shape`` (``[H, W]`` is shared by every map)."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise ValueError(f"mask must be boolean (True: the pixels to rank), got dtype {mask.dtype}; "
                         "e.g. images[:, 0] > 0 for the ink of a digit")
    try:
        return np.broadcast_to(mask, shape)
    except ValueError:
        raise ValueError(f"a mask of shape {list(mask.shape)} does not fit maps of shape {list(shape)}: "
                         "give [B, H, W] or [H, W]") from None


def spearman_similarity(maps_a, maps_b, *, absolute: bool = False, mask=None) -> torch.Tensor:
    """Spearman rank correlation of each pair of maps, ``[B]`` float64 (``scipy.stats.spearmanr``).

    ``absolute=True`` ranks ``|map|`` (the paper's "ABS" curves: the sign of the evidence is
    ignored); ``False`` ranks the signed maps (its "no ABS" curves). Rank correlation ignores
    any per-map positive scaling, so normalized and raw maps give the same number.
    ``mask`` (boolean, ``[B, H, W]`` or ``[H, W]``) ranks only the pixels where it is True: on
    MNIST, where gradient x input is 0 on the black background whatever the network, the
    background's tied zeros alone give two unrelated maps a correlation near 1 (notebook 07).
    A pair with a constant map (or fewer than two pixels in the mask) gives ``nan`` (see the
    module's docstring).
    """
    from scipy.stats import spearmanr

    a, b = _as_float64_maps(maps_a, maps_b)
    if absolute:
        a, b = np.abs(a), np.abs(b)
    keep = np.ones(a.shape, dtype=bool) if mask is None else _check_mask(mask, a.shape)
    values = [math.nan if m.sum() < 2 or _constant(x[m]) or _constant(y[m]) else float(spearmanr(x[m], y[m])[0])
              for x, y, m in zip(a, b, keep, strict=True)]
    return torch.tensor(values, dtype=torch.float64)


def _unit_range(a: np.ndarray) -> np.ndarray:
    """``(a - min) / (max - min)``: ``normalize_image`` of Adebayo et al.'s notebooks."""
    return (a - a.min()) / (a.max() - a.min())


def ssim_similarity(maps_a, maps_b, *, absolute: bool = False) -> torch.Tensor:
    """Structural similarity of each pair of maps, ``[B]`` float64 (``skimage.metrics.structural_similarity``).

    Each map is first min-max normalized to [0, 1] (``(m - min) / (max - min)``, the
    ``normalize_image`` helper of Adebayo et al.'s Inception-v3 notebook), then compared with
    ``data_range`` taken from the normalized maps (1) and skimage's defaults otherwise (a 7x7
    uniform window), so maps must be at least 7x7: compare image-size maps. ``absolute=True``
    takes ``|map|`` first; the paper reports SSIM on signed maps. A pair with a constant map
    gives ``nan``.
    """
    from skimage.metrics import structural_similarity

    a, b = _as_float64_maps(maps_a, maps_b)
    if min(a.shape[-2:]) < 7:
        raise ValueError(f"SSIM's 7x7 window needs maps of at least 7x7, got {a.shape[-2]}x{a.shape[-1]}: "
                         "upsample them to the image size first (camlib.methods.cam.upsample_cams)")
    if absolute:
        a, b = np.abs(a), np.abs(b)
    values = []
    for x, y in zip(a, b, strict=True):
        if _constant(x) or _constant(y):
            values.append(math.nan)
            continue
        x, y = _unit_range(x), _unit_range(y)
        span = max(x.max(), y.max()) - min(x.min(), y.min())
        values.append(float(structural_similarity(x, y, data_range=span)))
    return torch.tensor(values, dtype=torch.float64)


SIMILARITIES = {"spearman": spearman_similarity, "ssim": ssim_similarity}


def randomization_similarities(
    results: dict[str, torch.Tensor], *, metric: str = "spearman", absolute: bool = False
) -> dict[str, torch.Tensor]:
    """Similarity ``[B]`` of every entry of a randomization's results to its ``"original"`` maps."""
    if metric not in SIMILARITIES:
        raise ValueError(f"metric={metric!r}: use one of {list(SIMILARITIES)}")
    if not isinstance(results, dict) or ORIGINAL not in results:
        raise ValueError(f"results must be the dict a randomization returns, with an {ORIGINAL!r} entry")
    reference = results[ORIGINAL]
    return {name: SIMILARITIES[metric](reference, maps, absolute=absolute) for name, maps in results.items()}


# --- data randomization -----------------------------------------------------------------------


class ShuffledLabels(Dataset):
    """A view of a map-style dataset of ``(image, label)`` pairs with permuted labels."""

    def __init__(self, dataset: Dataset, labels: torch.Tensor, seed: int):
        self.dataset, self.labels, self.seed = dataset, labels, seed
        self.classes = getattr(dataset, "classes", None)
        self.source = f"{getattr(dataset, 'source', type(dataset).__name__)} (labels shuffled, seed {seed})"

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.dataset[index][0], int(self.labels[index])


def _labels_of(dataset) -> torch.Tensor:
    for attribute in ("labels", "targets"):
        labels = getattr(dataset, attribute, None)
        if labels is not None:
            return torch.as_tensor(labels).long()
    if len(dataset) == 0:
        raise ValueError("the dataset is empty: there are no labels to shuffle")
    first = dataset[0]
    if not isinstance(first, tuple | list) or len(first) < 2:
        raise TypeError(f"dataset item 0 is a {type(first).__name__}, not an (image, label) pair: shuffled_labels "
                        "permutes the labels of a labelled dataset (e.g. TensorDataset(images, labels))")
    return torch.tensor([int(dataset[i][1]) for i in range(len(dataset))], dtype=torch.long)


def shuffled_labels(dataset: Dataset, seed: int = 0):
    """The same images with their labels permuted at random (Adebayo et al.'s data randomization test).

    The labels are a seeded permutation of the dataset's own labels (``torch.randperm`` with a
    ``torch.Generator``): the class frequencies stay, any link between an image and its label
    goes, so a network can only memorize them. A ``camlib.data.DigitDataset`` comes back as a
    ``DigitDataset`` whose ``source`` says "labels shuffled, seed ..." (so its checkpoint is
    never taken for the true-label one); any other dataset of ``(image, label)`` pairs as a
    ``ShuffledLabels`` view. Test on true labels: accuracy near chance shows it memorized.
    """
    from camlib.data.digits import DigitDataset

    seed = check_int(seed, "seed")
    if not isinstance(dataset, Dataset) or not hasattr(dataset, "__len__"):
        raise TypeError(f"dataset must be a map-style torch Dataset of (image, label) pairs, "
                        f"got {type(dataset).__name__}")
    labels = _labels_of(dataset)
    permuted = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]
    if isinstance(dataset, DigitDataset):
        return DigitDataset(dataset.images.squeeze(1), permuted, dataset.classes,
                            f"{dataset.source} (labels shuffled, seed {seed})")
    return ShuffledLabels(dataset, permuted, seed)
