"""Settings for every test run, unit tests and notebooks alike.

Exercise checks raise instead of printing ✗ (camlib.exercises, ``CAMLIB_EXERCISES=strict``), so
executing a notebook with nbval proves that its ``solution`` cells pass their checks. Notebook
kernels inherit this process's environment.
"""

import os

os.environ.setdefault("CAMLIB_EXERCISES", "strict")
