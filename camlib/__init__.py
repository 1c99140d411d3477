"""camlib: the support library of CAM Lab (Class Activation Mapping, Zhou et al., CVPR 2016).

Grouped by role (docs/design.md draws the layers):

- ``camlib.methods``: how a map is made. ``cam`` (M_c = sum_k w_k^c f_k), ``gradcam``, ``attribution``
  (Grad-CAM++, HiResCAM, LayerCAM, Score-CAM, gradients, occlusion, maps that never see the network),
  ``transfer`` (CAMs of any linear model on GAP features), ``token_cams`` (vision transformers).
- ``camlib.metrics``: how a map is judged. ``localize`` (boxes, IoU, Top-1 / GT-known Loc, MaxBoxAccV2,
  PxAP), ``floors`` (the centre prior), ``faithfulness`` (deletion, insertion, ROAD), ``sanity``
  (randomization tests), ``ilsvrc`` (the paper's ILSVRC protocol).
- ``camlib.models``: ``cnn`` (GAPNet, FlattenFCNet, VGG16-GAP), ``vit`` (TinyViT), ``pretrained``.
- ``camlib.data``: ``digits`` (MNIST, Fashion-MNIST, the cluttered canvases), ``photos``, ``ilsvrc``
  (readers), ``download`` (timeouts).
- ``camlib.train``: ``loop`` (fit, evaluate, checkpoints), ``finetune`` (VGG16-GAP, torchrun-ready).
- ``camlib.lab``: what only the notebooks use: ``mnist_recipe``, ``wsol``, ``viz``, ``report``,
  ``widgets``, ``exercises``, ``launch``.
- ``camlib.config`` (profiles, devices, seeds); ``_checks`` and ``_guards``, the private core every
  module's argument checks and model guards come from.

The names the notebooks use are here too, flat: ``from camlib import compute_cams, grad_cam,
bbox_from_cam``. They are imported on first use, so ``import camlib`` stays light. The module paths
of before the grouping (``camlib.cam``, ``camlib.localize``, ...) still import (``camlib._moved``).
"""

import importlib

from camlib import _moved

__version__ = "0.1.0"

_FLAT = {
    "camlib.methods.cam": ("class_activation_maps", "compute_cams", "finer_cams", "find_gap_head",
                           "normalize_cams", "upsample_cams"),
    "camlib.methods.gradcam": ("grad_cam", "guided_backprop", "guided_grad_cam"),
    "camlib.methods.attribution": ("METHODS", "attribution_maps", "gaussian_map", "grad_cam_plus_plus",
                                   "hirescam", "layercam", "occlusion", "random_map", "score_cam"),
    "camlib.methods.transfer": ("gap_features", "linear_cams", "linear_weights"),
    "camlib.methods.token_cams": ("attention_rollout", "chefer_relevance", "compute_token_cams", "token_cams",
                                  "token_reshape"),
    "camlib.metrics.localize": ("bbox_from_cam", "box_iou", "boxes_from_cam_all_components", "extent",
                                "gt_known_loc", "max_box_acc_v2", "pointing_accuracy", "pxap", "top1_loc",
                                "top5_loc"),
    "camlib.metrics.floors": ("fit_centre_prior",),
    "camlib.metrics.faithfulness": ("auc", "confidence_change", "deletion", "insertion", "road"),
    "camlib.metrics.sanity": ("cascading_randomization", "spearman_similarity", "ssim_similarity"),
    "camlib.models.cnn": ("FlattenFCNet", "GAPNet", "VGG16GAP", "count_parameters", "layer_summary", "vgg16_gap"),
    "camlib.models.vit": ("TinyViT",),
    "camlib.data.digits": ("CanvasDigits", "load_digits"),
    "camlib.train.loop": ("evaluate", "fit", "fit_or_load", "load_checkpoint", "save_checkpoint"),
    "camlib.lab.viz": ("cam_grid", "overlay", "show_figure"),
}
_WHERE = {name: module for module, names in _FLAT.items() for name in names}
__all__ = sorted(_WHERE)

_moved.install()


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module 'camlib' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_WHERE})
