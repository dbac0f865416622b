"""headline.cache_source_domains: source models trained in forked processes equal those trained here."""
import numpy as np

from lorabook.studies import headline

EPOCHS = 3  # a setting no other test uses, so this file's cache entries are its own


def test_source_models_trained_side_by_side_are_the_ones_trained_here(monkeypatch):
    monkeypatch.setattr(headline, "_sources", {})
    headline.cache_source_domains([0, 1], epochs=EPOCHS, processes=2)
    side_by_side = dict(headline._sources)
    assert sorted(side_by_side) == [(0, EPOCHS), (1, EPOCHS)]
    headline._sources.clear()
    for seed in (0, 1):
        split, model = headline.source_domain(seed, EPOCHS)
        other_split, other_model = side_by_side[seed, EPOCHS]
        weights, other_weights = model.state_dict(), other_model.state_dict()
        assert list(weights) == list(other_weights)
        for name in weights:
            np.testing.assert_array_equal(weights[name], other_weights[name])  # bit for bit
        np.testing.assert_array_equal(split.target_train[0], other_split.target_train[0])
        assert other_model.training == model.training


def test_cached_source_models_are_not_trained_again(monkeypatch):
    monkeypatch.setattr(headline, "_sources", {})
    first = headline.source_domain(2, EPOCHS)
    headline.cache_source_domains([2], epochs=EPOCHS, processes=2)
    assert headline.source_domain(2, EPOCHS) is first
