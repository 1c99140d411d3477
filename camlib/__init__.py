"""camlib: the support library of CAM Lab (Class Activation Mapping, Zhou et al., CVPR 2016).

One module per idea: ``config`` (profiles, device, seeds), ``data`` (MNIST, Fashion-MNIST, the
cluttered localization canvases), ``models`` (GAPNet, the flatten+FC baseline, VGG16-GAP),
``cam`` (class activation maps), ``gradcam`` (Grad-CAM, guided backpropagation), ``localize``
(boxes and localization metrics), ``floors`` (the centre prior, the floor of every localization
number), ``wsol`` (the GAP-against-GMP experiment), ``imagenet`` (ILSVRC boxes and evaluation),
``finetune`` (VGG16-GAP fine-tuning, torchrun-ready), ``pretrained`` (torchvision weights, offline
fallbacks), ``photos`` (demo photographs), ``network`` (download timeouts), ``train`` (fit,
evaluate, checkpoints), ``mnist`` (the MNIST recipe of notebooks 02 and 04), ``attribution``
(Grad-CAM++, Score-CAM, gradients, occlusion and the floors of notebook 07), ``faithfulness``
(deletion, insertion, average drop, ROAD), ``sanity`` (randomization tests), ``transfer`` (GAP
features and CAMs of linear models, notebook 06), ``vit`` (the token CAM, notebook 08), ``viz``
(figures), ``widgets`` (the interactive explorer), ``exercises`` (answer checks and the
Otter-Grader student build) and ``launch`` (Colab and Binder). ``docs/design.md`` says where
each idea lives and the conventions they share.
"""

__version__ = "0.1.0"
