"""Test-wide settings, applied before any test module imports NumPy.

One BLAS thread: the tests' matrices are small, and on a busy 2-core CI
machine two threads per product fight for the cores and run several times
slower. Notebook kernels started by the tests inherit this environment.
"""
import os

# Figures are drawn off screen (no display on CI); set before any test imports matplotlib.
os.environ.setdefault("MPLBACKEND", "Agg")

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
