"""Choosing a rank from noisy data: the Gavish-Donoho optimal hard threshold.

Model (Gavish and Donoho 2014, "The optimal hard threshold for singular
values is 4/sqrt(3)"): we observe M = X + sigma * Z, shape (m, n), where X
has low rank and Z has i.i.d. entries of mean 0 and variance 1. Keep the
singular values of M above a threshold and drop the rest; the threshold
with the smallest asymptotic mean squared error in recovering X is

    known sigma:    tau = lambda*(beta) * sqrt(n) * sigma
    unknown sigma:  tau = omega(beta) * median singular value of M

where beta = m / n is the aspect ratio with the matrix oriented so that
m <= n (a tall matrix is treated as its transpose: same singular values),

    lambda*(beta) = sqrt( 2 (beta + 1) + 8 beta / ((beta + 1) + sqrt(beta^2 + 14 beta + 1)) )

and omega(beta) = lambda*(beta) / sqrt(mu_beta), with mu_beta the median of
the Marchenko-Pastur distribution of ratio beta (the median of the squared
noise singular values, divided by n). For a square matrix
lambda*(1) = 4 / sqrt(3) ~ 2.309 and omega(1) ~ 2.858.

This module computes mu_beta exactly (by integrating the Marchenko-Pastur
density with SciPy and solving CDF = 1/2), not with the paper's cubic fit
omega(beta) ~ 0.56 beta^3 - 0.95 beta^2 + 1.82 beta + 1.43, which it quotes
as accurate to about 0.02 (the tests check that the two agree).
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import integrate, optimize

from lorabook._checks import check_float
from lorabook.analysis._validate import as_matrix


def lambda_star(beta):
    """Optimal threshold coefficient for known noise: lambda*(beta), beta in (0, 1]."""
    beta = check_float("beta", beta, low=0.0, high=1.0, low_open=True)
    return float(np.sqrt(2 * (beta + 1) + 8 * beta / ((beta + 1) + np.sqrt(beta**2 + 14 * beta + 1))))


@functools.lru_cache(maxsize=256)
def _marchenko_pastur_median(beta):
    low, high = (1 - np.sqrt(beta)) ** 2, (1 + np.sqrt(beta)) ** 2

    def density(x):
        return np.sqrt(max((high - x) * (x - low), 0.0)) / (2 * np.pi * beta * x)

    def cdf_minus_half(t):
        return integrate.quad(density, low, t, limit=200)[0] - 0.5

    return float(optimize.brentq(cdf_minus_half, low, high, xtol=1e-13))


def marchenko_pastur_median(beta):
    """mu_beta: median of the Marchenko-Pastur law of ratio beta in (0, 1] (variance 1).

    The law is that of the eigenvalues of Z Z^T / n for Z (m, n) of unit-variance
    noise, m / n = beta; it lives on [(1 - sqrt(beta))^2, (1 + sqrt(beta))^2].
    """
    beta = check_float("beta", beta, low=0.0, high=1.0, low_open=True)
    return _marchenko_pastur_median(beta)


def omega(beta):
    """Optimal threshold coefficient for unknown noise: lambda*(beta) / sqrt(mu_beta)."""
    return lambda_star(beta) / np.sqrt(marchenko_pastur_median(beta))


def omega_approx(beta):
    """The paper's cubic fit to omega(beta): 0.56 b^3 - 0.95 b^2 + 1.82 b + 1.43."""
    beta = check_float("beta", beta, low=0.0, high=1.0, low_open=True)
    return 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43


def hard_threshold(M, sigma=None):
    """The Gavish-Donoho threshold tau for the singular values of M (see module doc)."""
    M = as_matrix("M", M)
    short, long = sorted(M.shape)
    beta = short / long
    if sigma is not None:
        sigma = check_float("sigma", sigma, low=0.0, low_open=True)
        return lambda_star(beta) * np.sqrt(long) * sigma
    median = float(np.median(np.linalg.svd(M, compute_uv=False)))
    return omega(beta) * median


def suggest_rank(M, sigma=None):
    """Number of singular values of M (m, n) above the Gavish-Donoho threshold.

    sigma: the noise standard deviation per entry, if known (> 0). With
    sigma=None it is estimated from the median singular value, which works
    when the signal rank is small compared with min(m, n).

    Either orientation works: beta = min(m, n) / max(m, n) and n in the
    formula is max(m, n). Returns an int between 0 and min(m, n).
    """
    M = as_matrix("M", M)
    tau = hard_threshold(M, sigma)
    return int(np.count_nonzero(np.linalg.svd(M, compute_uv=False) > tau))
