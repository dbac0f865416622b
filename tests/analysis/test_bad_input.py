"""Every public function rejects bad input with a message naming the argument."""
import numpy as np
import pytest

from lorabook import analysis as an

GOOD = np.arange(1.0, 13.0).reshape(3, 4)  # (3, 4), rank 2, positive
OTHER = GOOD[::-1] + 1.0
VEC = np.ones(4)
CUBE = np.ones((2, 3, 4))
NAN = GOOD.copy()
NAN[1, 2] = np.nan
INF = GOOD.copy()
INF[0, 0] = np.inf

# (function, keyword arguments, exception type, pattern the message must contain)
CASES = [
    # not a matrix
    (an.singular_values, dict(W=VEC), ValueError, r"^W must be a 2-D array"),
    (an.energy_curve, dict(W=CUBE), ValueError, r"^W must be a 2-D array"),
    (an.effective_rank, dict(W="abc"), TypeError, r"^W must"),
    (an.stable_rank, dict(W=[[1, 2], [3]]), TypeError, r"^W must be a 2-D array of numbers"),
    (an.low_rank_approx, dict(W=VEC, r=1), ValueError, r"^W must be a 2-D array"),
    (an.suggest_rank, dict(M=VEC), ValueError, r"^M must be a 2-D array"),
    (an.subspace_similarity_grid, dict(A1=VEC, A2=GOOD), ValueError, r"^A1 must be a 2-D array"),
    (an.principal_angles, dict(U=GOOD, V=CUBE), ValueError, r"^V must be a 2-D array"),
    (an.amplification_factor, dict(delta_W=VEC, W=GOOD, r=1), ValueError, r"^delta_W must be a 2-D"),
    (an.intruder_dimensions, dict(W0=GOOD, W=VEC), ValueError, r"^W must be a 2-D"),
    (an.extract_lora, dict(W_finetuned=GOOD, W_base=CUBE, r=1), ValueError, r"^W_base must be a 2-D"),
    (an.nmf, dict(V=VEC, k=1), ValueError, r"^V must be a 2-D"),
    (an.reduced_rank_regression, dict(X=VEC, Y=GOOD, r=1), ValueError, r"^X must be a 2-D"),
    # NaN or infinite entries
    (an.singular_values, dict(W=NAN), ValueError, r"^W must be finite.*1 of its 12"),
    (an.energy_rank, dict(W=INF), ValueError, r"^W must be finite"),
    (an.svd_factors, dict(W=NAN, r=1), ValueError, r"^W must be finite"),
    (an.suggest_rank, dict(M=INF), ValueError, r"^M must be finite"),
    (an.subspace_similarity, dict(A1=GOOD, A2=NAN, i=1, j=1), ValueError, r"^A2 must be finite"),
    (an.amplification_factor, dict(delta_W=GOOD, W=INF, r=1), ValueError, r"^W must be finite"),
    (an.intruder_dimensions, dict(W0=NAN, W=GOOD), ValueError, r"^W0 must be finite"),
    (an.extract_lora, dict(W_finetuned=INF, W_base=GOOD, r=1), ValueError, r"^W_finetuned must be finite"),
    (an.nmf, dict(V=NAN, k=1), ValueError, r"^V must be finite"),
    (an.reduced_rank_regression, dict(X=GOOD, Y=NAN, r=1), ValueError, r"^Y must be finite"),
    # rank out of range: 0, above min(m, n), not an integer
    (an.low_rank_approx, dict(W=GOOD, r=0), ValueError, r"^r must be between 1 and min\(m, n\) = 3 .*\(3, 4\), got 0"),
    (an.low_rank_approx, dict(W=GOOD, r=4), ValueError, r"^r must be between 1 and .* got 4"),
    (an.svd_factors, dict(W=GOOD, r=2.5), TypeError, r"^r must be an integer"),
    (an.svd_factors, dict(W=GOOD, r=True), TypeError, r"^r must be an integer"),
    (an.amplification_factor, dict(delta_W=GOOD, W=OTHER, r=5), ValueError, r"^r must be between"),
    (an.extract_lora, dict(W_finetuned=GOOD, W_base=OTHER, r=0), ValueError, r"^r must be between"),
    (an.intruder_dimensions, dict(W0=GOOD, W=OTHER, k=4), ValueError, r"^k must be between"),
    (an.nmf, dict(V=GOOD, k=0), ValueError, r"^k must be between"),
    (an.reduced_rank_regression, dict(X=GOOD, Y=GOOD[:, :2], r=3), ValueError, r"^r must be between 1 and min\(m, n\) = 2"),
    (an.subspace_similarity, dict(A1=GOOD, A2=OTHER, i=0, j=1), ValueError, r"^i must be >= 1"),
    (an.subspace_similarity, dict(A1=GOOD, A2=OTHER, i=1, j=4), ValueError, r"^j must be <= 3"),
    (an.random_subspace_baseline, dict(i=5, j=1, d=4), ValueError, r"^i must be <= 4"),
    (an.random_subspace_baseline, dict(i=1, j=1, d=0), ValueError, r"^d must be >= 1"),
    # tau and the other scalar settings
    (an.energy_rank, dict(W=GOOD, tau=0.0), ValueError, r"^tau must be in \(0.0, 1.0\], got 0.0"),
    (an.energy_rank, dict(W=GOOD, tau=1.5), ValueError, r"^tau must be in \(0.0, 1.0\]"),
    (an.energy_rank, dict(W=GOOD, tau=-0.1), ValueError, r"^tau must be in"),
    (an.energy_rank, dict(W=GOOD, tau=float("nan")), ValueError, r"^tau must be finite"),
    (an.energy_rank, dict(W=GOOD, tau="0.9"), TypeError, r"^tau must be a real number"),
    (an.suggest_rank, dict(M=GOOD, sigma=0.0), ValueError, r"^sigma must be in \(0.0, inf"),
    (an.suggest_rank, dict(M=GOOD, sigma=-1.0), ValueError, r"^sigma must be in"),
    (an.intruder_dimensions, dict(W0=GOOD, W=OTHER, k=2, eps=0.0), ValueError, r"^eps must be in"),
    (an.intruder_dimensions, dict(W0=GOOD, W=OTHER, k=2, eps=1.2), ValueError, r"^eps must be in"),
    (an.intruder_dimensions, dict(W0=GOOD, W=OTHER, k=2, side="up"), ValueError, r"^side must be one of 'left', 'right'"),
    (an.nmf, dict(V=GOOD, k=1, iters=0), ValueError, r"^iters must be >= 1"),
    (an.nmf, dict(V=GOOD, k=1, seed="x"), TypeError, r"^seed must be an integer"),
    # mismatched shapes
    (an.amplification_factor, dict(delta_W=GOOD, W=GOOD.T, r=1), ValueError, r"^delta_W and W must have the same shape, got \(3, 4\) and \(4, 3\)"),
    (an.intruder_dimensions, dict(W0=GOOD, W=GOOD[:2]), ValueError, r"^W0 and W must have the same shape"),
    (an.extract_lora, dict(W_finetuned=GOOD, W_base=GOOD.T, r=1), ValueError, r"^W_finetuned and W_base must have the same shape"),
    (an.subspace_similarity, dict(A1=GOOD, A2=GOOD.T, i=1, j=1), ValueError, r"^A1 and A2 must have the same number of columns.*\(3, 4\) and \(4, 3\)"),
    (an.subspace_similarity_grid, dict(A1=GOOD, A2=GOOD[:, :3]), ValueError, r"^A1 and A2 must have the same number of columns"),
    (an.principal_angles, dict(U=GOOD, V=GOOD.T), ValueError, r"^U and V must have the same number of rows"),
    (an.reduced_rank_regression, dict(X=GOOD, Y=GOOD[:2], r=1), ValueError, r"^X and Y must have the same number of rows.*\(3, 4\) and \(2, 4\)"),
    (an.reduced_rank_regression, dict(X=GOOD, Y=GOOD, r=1, W0=GOOD), ValueError, r"^W0 must have shape .* = \(4, 4\), got \(3, 4\)"),
    (an.reduced_rank_regression, dict(X=GOOD, Y=GOOD, r=1, W0=np.full((4, 4), np.nan)), ValueError, r"^W0 must be finite"),
    # zero matrix, for measures that divide by it
    (an.energy_curve, dict(W=np.zeros((2, 3))), ValueError, r"^W is all zeros"),
    (an.effective_rank, dict(W=np.zeros((2, 3))), ValueError, r"^W is all zeros"),
    (an.stable_rank, dict(W=np.zeros((2, 3))), ValueError, r"^W is all zeros"),
    # negative data for NMF
    (an.nmf, dict(V=-GOOD, k=1), ValueError, r"^V must be non-negative"),
]


@pytest.mark.parametrize(
    "function, kwargs, error, pattern", CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)]
)
def test_bad_input_is_named_in_the_error(function, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        function(**kwargs)


def test_good_versions_of_the_same_calls_work():
    # guards the table above: the base arrays themselves are acceptable
    assert an.low_rank_approx(GOOD, 3).shape == (3, 4)
    assert an.amplification_factor(GOOD - OTHER, GOOD, 2) > 0
    assert an.reduced_rank_regression(GOOD, GOOD, 1, W0=np.zeros((4, 4))).shape == (4, 4)
    assert an.subspace_similarity(GOOD, OTHER, 2, 2) == pytest.approx(1.0)  # both row spaces: span(1..4, ones)
