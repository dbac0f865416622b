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

A floor under the threshold. Without noise the formula breaks down: for an
exact rank-k matrix (k < min(m, n) / 2) the median singular value is
rounding error, about 1e-16 of the largest, so tau is too, and the
directions that exist only through floating-point rounding get counted
(exact rank-3 40 x 60 matrices gave 6 to 11). No threshold can tell signal
from rounding below the floating-point resolution, so ``hard_threshold``
never returns less than the numerical-rank tolerance that
``numpy.linalg.matrix_rank`` uses,

    tol = s_1 * max(m, n) * eps      (eps of M's floating dtype, float64 otherwise)

which is far below tau whenever the data carry real noise (then tau is of
order sigma * sqrt(n)), so noisy answers are unchanged. A noise-free rank-k
matrix then gets k (for k below about min(m, n) / 2, where the median is
still rounding error); the all-zero matrix gets 0.
"""
from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike

from lorabook._checks import check_float
from lorabook.analysis._validate import as_matrix, scale_back, scale_out


def lambda_star(beta: float) -> float:
    """Optimal threshold coefficient for known noise: lambda*(beta), beta in (0, 1]."""
    beta = check_float("beta", beta, low=0.0, high=1.0, low_open=True)
    return float(np.sqrt(2 * (beta + 1) + 8 * beta / ((beta + 1) + np.sqrt(beta**2 + 14 * beta + 1))))


@functools.lru_cache(maxsize=256)
def _marchenko_pastur_median(beta):
    from scipy import integrate, optimize  # imported here: SciPy takes a while to load

    low, high = (1 - np.sqrt(beta)) ** 2, (1 + np.sqrt(beta)) ** 2

    def density(x):
        if not low < x < high:  # outside the support; also x = 0 at beta = 1, where the formula is 0/0
            return 0.0
        return np.sqrt((high - x) * (x - low)) / (2 * np.pi * beta * x)

    def cdf_minus_half(t):
        return integrate.quad(density, low, t, limit=200)[0] - 0.5

    return float(optimize.brentq(cdf_minus_half, low, high, xtol=1e-13))


def marchenko_pastur_median(beta: float) -> float:
    """mu_beta: median of the Marchenko-Pastur law of ratio beta in (0, 1] (variance 1).

    The law is that of the eigenvalues of Z Z^T / n for Z (m, n) of unit-variance
    noise, m / n = beta; it lives on [(1 - sqrt(beta))^2, (1 + sqrt(beta))^2].
    """
    beta = check_float("beta", beta, low=0.0, high=1.0, low_open=True)
    return _marchenko_pastur_median(beta)


def omega(beta: float) -> float:
    """Optimal threshold coefficient for unknown noise: lambda*(beta) / sqrt(mu_beta)."""
    return lambda_star(beta) / np.sqrt(marchenko_pastur_median(beta))


def omega_approx(beta: float) -> float:
    """The paper's cubic fit to omega(beta): 0.56 b^3 - 0.95 b^2 + 1.82 b + 1.43."""
    beta = check_float("beta", beta, low=0.0, high=1.0, low_open=True)
    return 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43


def _scaled_spectrum(M):
    """(shape, s, exponent, eps): the singular values s of M / 2**exponent (largest entry in [0.5, 1)),
    and the eps of M's own floating dtype (float64's otherwise).

    Working on the exactly scaled matrix keeps the SVD from overflowing on huge
    entries; every threshold here is a multiple of s or of sigma, so comparing
    s with tau / 2**exponent gives the rank of M itself. float32 data carry
    only float32 resolution even after conversion, so their rounding floor is
    float32's.
    """
    dtype = np.asarray(M).dtype
    eps = np.finfo(dtype if np.issubdtype(dtype, np.floating) else np.float64).eps
    M = as_matrix("M", M)
    scaled, exponent = scale_out(M)
    return M.shape, np.linalg.svd(scaled, compute_uv=False), exponent, float(eps)


def _rounding_floor(shape, s, eps):
    """s_1 * max(m, n) * eps: singular values at or below it are rounding error (module doc)."""
    return float(s[0]) * max(shape) * eps


def _threshold(shape, s, exponent, eps, sigma):
    """The threshold in the units of s, i.e. for M / 2**exponent."""
    short, long = sorted(shape)
    beta = short / long
    if sigma is not None:
        sigma = check_float("sigma", sigma, low=0.0, low_open=True)
        with np.errstate(over="ignore"):  # a sigma far above M's entries: an infinite threshold keeps nothing
            tau = np.ldexp(lambda_star(beta) * np.sqrt(long) * sigma, -exponent)
    else:
        tau = omega(beta) * float(np.median(s))
    return max(float(tau), _rounding_floor(shape, s, eps))


def rank_tolerance(M: ArrayLike) -> float:
    """numpy.linalg.matrix_rank's tolerance s_1 * max(m, n) * eps for M (m, n).

    Singular values at or below it are rounding error (module doc); eps is
    that of M's floating dtype, float64's for anything else.
    """
    shape, s, exponent, eps = _scaled_spectrum(M)
    return float(np.ldexp(_rounding_floor(shape, s, eps), exponent))


def hard_threshold(M: ArrayLike, sigma: float | None = None) -> float:
    """The Gavish-Donoho threshold tau for the singular values of M (m, n), see module doc.

    tau = lambda*(beta) sqrt(max(m, n)) sigma with sigma known, omega(beta) *
    median singular value without, but never below rank_tolerance(M) (the
    floor that keeps rounding error out of a noise-free matrix's rank).
    """
    shape, s, exponent, eps = _scaled_spectrum(M)
    with np.errstate(over="ignore"):  # a threshold in M / 2**e beyond float64 (huge sigma) keeps nothing
        tau = _threshold(shape, s, exponent, eps, sigma)
    return float(scale_back("M", tau, exponent, "threshold tau"))


def suggest_rank(M: ArrayLike, sigma: float | None = None) -> int:
    """Number of singular values of M (m, n) strictly above hard_threshold(M, sigma).

    sigma: the noise standard deviation per entry, if known (> 0). With
    sigma=None it is estimated from the median singular value, which works
    when the signal rank is small compared with min(m, n).

    Either orientation works: beta = min(m, n) / max(m, n) and n in the
    formula is max(m, n). Returns an int between 0 and min(m, n): the
    all-zero matrix gets 0, and a noise-free matrix of exact rank k (below
    about min(m, n) / 2) gets k, as numpy.linalg.matrix_rank would, because
    the threshold never drops below the rounding-error tolerance (module doc).
    M must have at least one row and one column; its scale does not matter
    (suggest_rank(c * M, c * sigma) == suggest_rank(M, sigma) for any c > 0).
    """
    shape, s, exponent, eps = _scaled_spectrum(M)
    return int(np.count_nonzero(s > _threshold(shape, s, exponent, eps, sigma)))
