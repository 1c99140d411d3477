"""camlib: the support library of CAM Lab (Class Activation Mapping, Zhou et al., CVPR 2016).

One module per idea: ``config`` (profiles, device, seeds), ``data`` (MNIST, Fashion-MNIST),
``models`` (GAPNet, the flatten+FC baseline), ``cam`` (class activation maps), ``train``
(fit, evaluate, checkpoints), ``viz`` (figures) and ``widgets`` (the interactive explorer).
"""

__version__ = "0.1.0"
