"""What only the notebooks use: ``mnist_recipe`` (the MNIST networks of notebooks 02 and 04), ``wsol``
(the GAP-against-GMP experiment of notebook 03), ``viz`` (figures), ``report`` (a mean over seeds with
its spread), ``widgets`` (the CAM explorer), ``exercises`` (the checks of the exercises) and ``launch``
(Colab and Binder)."""
