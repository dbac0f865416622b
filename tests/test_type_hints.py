"""The public API of train, analysis, data and domain carries type hints (an editor shows them to learners)."""
import inspect
import typing

import pytest

import lorabook
from lorabook import analysis, data, domain, train

PUBLIC = [
    *(getattr(analysis, name) for name in analysis.__all__),
    *(getattr(data, name) for name in data.__all__),
    train.fit, train.evaluate, train.predict, train.accuracy, train.progress_bar, train.History.final,
    train.History.summary, domain.pca_basis, domain.subspace_alignment, domain.coral,
    lorabook.random.get_generator, lorabook.random.manual_seed,
]
FUNCTIONS = [f for f in PUBLIC if inspect.isfunction(f)]


@pytest.mark.parametrize("function", FUNCTIONS, ids=[f.__qualname__ for f in FUNCTIONS])
def test_every_argument_and_the_result_are_annotated_and_the_hints_resolve(function):
    from tqdm.auto import tqdm  # progress_bar's result type, imported by train.py for type checkers only

    hints = typing.get_type_hints(function, localns={"tqdm": tqdm})  # raises if a hint names something undefined
    parameters = [name for name in inspect.signature(function).parameters if name != "self"]
    assert [name for name in parameters if name not in hints] == []
    assert "return" in hints


def test_the_list_is_not_empty():
    assert len(FUNCTIONS) > 30
