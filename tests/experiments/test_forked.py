"""lorabook.experiments.forked, and over_seeds(processes=...): seeds side by side, the same records."""
import os

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from lorabook import nn, optim
from lorabook.experiments import forked, over_seeds
from lorabook.nn import functional as F
from lorabook.train import evaluate, fit

needs_fork = pytest.mark.skipif(not forked.can_fork(), reason="map_forked forks on Linux only")


def _pid(_):
    return os.getpid()


def test_map_forked_keeps_the_order_of_the_arguments_and_takes_a_lambda():
    assert forked.map_forked(lambda a: a * a, range(7), processes=2) == [a * a for a in range(7)]
    assert forked.map_forked(lambda a: a, [3], processes=4) == [3]  # more processes than arguments


@needs_fork
def test_map_forked_runs_the_calls_in_other_processes():
    pids = forked.map_forked(_pid, range(4), processes=2)
    assert os.getpid() not in pids and 1 <= len(set(pids)) <= 2


def test_map_forked_runs_here_with_one_process_or_where_it_cannot_fork(monkeypatch):
    assert forked.map_forked(_pid, range(3), processes=1) == [os.getpid()] * 3
    monkeypatch.setattr(forked, "can_fork", lambda: False)
    assert forked.map_forked(_pid, range(3), processes=2) == [os.getpid()] * 3


def test_map_forked_raises_a_call_s_exception_here():
    def fail_on_two(a):
        if a == 2:
            raise ValueError(f"bad argument {a}")
        return a

    with pytest.raises(ValueError, match="bad argument 2"):
        forked.map_forked(fail_on_two, range(4), processes=2)
    assert forked._job is None  # nothing left behind for the next call


@pytest.mark.parametrize("processes, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_a_bad_process_count_is_refused_by_name(processes, error):
    with pytest.raises(error, match="processes"):
        forked.map_forked(_pid, range(2), processes=processes)
    with pytest.raises(error, match="processes"):
        over_seeds(lambda seed: [], range(2), processes=processes)


def small_run(seed):
    """A real experiment: train a small MLP on a seeded task; a record with floats and an array."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((60, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    model = nn.MLP([5, 16, 2], generator=seed)
    history = fit(model, (X, y), F.cross_entropy, optim.Adam(model.parameters(), lr=1e-2), epochs=5,
                  batch_size=16, seed=seed, progress=False)
    return [{"label": "mlp", "train_loss": history.train_loss, "accuracy": evaluate(model, (X, y))["accuracy"],
             "first_weight": model.get_submodule("0").weight.data.copy()}]


def test_over_seeds_gives_the_same_records_with_two_processes():
    one = over_seeds(small_run, range(4))
    two = over_seeds(small_run, range(4), processes=2)
    assert [r["seed"] for r in two] == [0, 1, 2, 3]
    for a, b in zip(one, two):
        assert a["train_loss"] == b["train_loss"] and a["accuracy"] == b["accuracy"]
        np.testing.assert_array_equal(a["first_weight"], b["first_weight"])  # bit for bit


def _blas_threads(seed):
    return [{"threads": max([lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"],
                            default=1)}]


@pytest.mark.parametrize("processes", [1, 2])
def test_over_seeds_runs_each_seed_on_one_blas_thread(processes):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):  # as in a kernel started without a thread limit
        if _blas_threads(0)[0]["threads"] < 2:
            pytest.skip("this NumPy's BLAS cannot run two threads here")
        records = over_seeds(_blas_threads, range(2), processes=processes)
    assert [r["threads"] for r in records] == [1, 1]


def test_run_forked_returns_the_result_and_raises_the_error():
    assert forked.run_forked(lambda: {"answer": 42}) == {"answer": 42}
    with pytest.raises(KeyError, match="missing"):
        forked.run_forked(lambda: {}["missing"])


@needs_fork
def test_run_forked_runs_in_another_process_and_here_where_it_cannot_fork(monkeypatch):
    assert forked.run_forked(os.getpid) != os.getpid()
    monkeypatch.setattr(forked, "can_fork", lambda: False)
    assert forked.run_forked(os.getpid) == os.getpid()


@needs_fork
def test_memory_measured_beside_another_thread_equals_memory_measured_alone():
    # Another thread running (as in a Jupyter kernel) sends the measurement to a forked child, which
    # has no other thread: its numbers are those of a process that never had one.
    import threading

    from lorabook.experiments import measure_training_step

    rng = np.random.default_rng(0)
    batch = (rng.standard_normal((16, 8)).astype(np.float32), rng.integers(0, 3, 16))
    alone = measure_training_step(nn.MLP([8, 32, 3], generator=0), batch)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        beside = measure_training_step(nn.MLP([8, 32, 3], generator=0), batch)
    finally:
        stop.set()
        other.join()
    for key in ("activations", "gradients", "Adam moments", "peak"):
        assert beside[key] == alone[key], key


def test_a_call_that_maps_again_runs_its_own_calls_in_its_process():
    # A pool's processes may not fork children; the inner map runs one call after another there.
    def inner(a):
        return forked.map_forked(lambda b: (b, os.getpid()), range(3), processes=2)

    for results in forked.map_forked(inner, range(2), processes=2):
        assert [b for b, _ in results] == [0, 1, 2] and len({pid for _, pid in results}) == 1
