import pytest


@pytest.fixture(autouse=True)
def checks_print_and_do_not_raise(monkeypatch):
    """Checker tests look at the returned Feedback, so no check may raise for being wrong."""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("LORABOOK_EXERCISES_STRICT", raising=False)


def rejected(feedback, *fragments):
    """True when feedback says 'not right yet' and its message holds every fragment."""
    text = str(feedback)
    missing = [fragment for fragment in fragments if fragment not in text]
    assert not feedback and "not right yet" in text and not missing, (text, missing)
    return True
