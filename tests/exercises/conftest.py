import pytest


@pytest.fixture(autouse=True)
def checks_print_and_do_not_raise(monkeypatch):
    """Checker tests look at the returned Feedback, so no check may raise for being wrong."""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("LORABOOK_EXERCISES_STRICT", raising=False)


def _rejected(feedback, *fragments):
    """True when feedback says 'not right yet' and its message holds every fragment (else an assertion fails)."""
    text = str(feedback)
    missing = [fragment for fragment in fragments if fragment not in text]
    assert not feedback and "not right yet" in text and not missing, (text, missing)
    return True


@pytest.fixture
def rejected():
    """rejected(feedback, *fragments): the check said 'not right yet' with every fragment in its message."""
    return _rejected
