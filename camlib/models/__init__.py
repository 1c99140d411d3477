"""The networks: ``cnn`` (GAPNet, the flatten+FC baseline, VGG16-GAP, layer summaries), ``vit`` (TinyViT)
and ``pretrained`` (torchvision weights, offline fallbacks). ``from camlib.models import GAPNet`` works as
before the package existed; importing it registers TinyViT, so checkpoints rebuild it by name."""

from camlib.models.cnn import (
    ARCHITECTURES,
    POOLINGS,
    VGG16_KEPT,
    VGG16GAP,
    FlattenFCNet,
    GAPClassifier,
    GAPNet,
    LayerRecord,
    build_model,
    check_input,
    conv_backbone,
    count_parameters,
    known_architectures,
    layer_summary,
    vgg16_gap,
    vgg16_layer_names,
)
from camlib.models.vit import TinyViT

__all__ = ["ARCHITECTURES", "POOLINGS", "VGG16_KEPT", "VGG16GAP", "FlattenFCNet", "GAPClassifier", "GAPNet",
           "LayerRecord", "TinyViT", "build_model", "check_input", "conv_backbone", "count_parameters",
           "known_architectures", "layer_summary", "vgg16_gap", "vgg16_layer_names"]
