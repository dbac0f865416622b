"""Run one function for several arguments side by side, in processes forked from this one.

    results = map_forked(run_one_seed, [0, 1, 2, 3, 4], processes=2)   # [run_one_seed(0), ...]

Seeds are independent runs, so on a machine with two cores two of them can
train at once. A forked process starts as a copy of this one: it has every
function defined here, including one typed into a notebook cell, and
everything computed and cached so far (such as the trained source models of
lorabook.studies.headline.source_domain). So cache what several runs share
first, then fork (headline.cache_source_domains trains the source models
side by side and keeps them in this process). Only results travel back,
through multiprocessing's pipe (pickled: the sender is our own child, not a
file from elsewhere).

Forking is used only on Linux. macOS and Windows start processes afresh
(spawn): the children would have to import everything and retrain what is
cached here, and a function from a notebook cell could not be found at all,
so there the calls run one after another, in this process. The results are
the same either way, in the order of the arguments: each run depends on its
own seed only, and a forked child keeps the parent's BLAS thread count.
"""
from __future__ import annotations

import multiprocessing
import sys
import warnings
from typing import Any, Callable, Iterable

from lorabook._checks import check_int

# The call in progress: set just before the workers are forked, so that they inherit it instead of
# receiving the function pickled (a lambda or a notebook cell's function cannot be pickled).
_job: Callable[[Any], Any] | None = None


def can_fork() -> bool:
    """Whether map_forked runs its calls in forked processes here (Linux) or one after another.

    Not inside one of its own processes: a run there that calls map_forked
    again (an experiment that caches source models side by side) runs its
    calls one after another instead, as a pool's processes may not have
    children of their own.
    """
    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon)


def map_forked(function: Callable[[Any], Any], arguments: Iterable[Any], processes: int = 2) -> list:
    """[function(a) for a in arguments], up to `processes` calls at a time in forked processes.

    processes=1, a single argument, or a system that cannot fork (see can_fork):
    the calls run here, one after another. An exception in a call is raised
    here. function's results must be picklable (numbers, strings, lists,
    dicts, arrays); return models' records, not the models.
    """
    arguments = list(arguments)
    processes = min(check_int("processes", processes, low=1), len(arguments))
    if processes <= 1 or not can_fork():
        return [function(argument) for argument in arguments]
    return _in_forked_pool(function, arguments, processes)


def run_forked(function: Callable[[], Any]) -> Any:
    """function() in one forked process, its result returned here (here itself where it cannot fork).

    The child has only the thread that forked it: measuring memory there
    (lorabook.experiments.memory) sees no allocations of a Jupyter kernel's
    other threads.
    """
    if not can_fork():
        return function()
    return _in_forked_pool(lambda _: function(), [None], 1)[0]


def _in_forked_pool(function, arguments, processes):
    global _job
    _job = function
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a process with other threads (a Jupyter kernel has some)
            # may deadlock the child; the children here run NumPy code only and never touch those threads.
            warnings.simplefilter("ignore", DeprecationWarning)
            with multiprocessing.get_context("fork").Pool(processes) as pool:
                return pool.map(_call_job, arguments, chunksize=1)
    finally:
        _job = None


def _call_job(argument):
    return _job(argument)
