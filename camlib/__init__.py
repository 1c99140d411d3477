"""camlib: the support library of CAM Lab (Class Activation Mapping, Zhou et al., CVPR 2016).

One module per idea: ``config`` (profiles, device, seeds), ``data`` (MNIST, Fashion-MNIST, the
cluttered localization canvases), ``models`` (GAPNet, the flatten+FC baseline, VGG16-GAP),
``cam`` (class activation maps), ``gradcam`` (Grad-CAM, guided backpropagation), ``localize``
(boxes and localization metrics), ``floors`` (the centre prior, the floor of every localization
number), ``wsol`` (the GAP-against-GMP experiment), ``imagenet`` (ILSVRC boxes and evaluation),
``finetune`` (VGG16-GAP fine-tuning, torchrun-ready), ``photos`` (demo photographs), ``train``
(fit, evaluate, checkpoints), ``mnist`` (the MNIST recipe), ``viz`` (figures), ``widgets`` (the
interactive explorer), ``exercises`` (answer checks and the Otter-Grader student build) and
``launch`` (Colab and Binder).
"""

__version__ = "0.1.0"
