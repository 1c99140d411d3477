"""How a map is made: ``cam`` (CAMs of GAP networks), ``gradcam`` (Grad-CAM, guided backpropagation),
``attribution`` (Grad-CAM++, HiResCAM, LayerCAM, Score-CAM, gradients, occlusion and the maps that never
see the network), ``transfer`` (GAP features and the CAMs of any linear model on them) and
``token_cams`` (the token CAM of a mean-pooled ViT, attention rollout, Chefer et al.'s relevance)."""
