"""The memory ledger: the formulas against the graph the engine keeps, tracemalloc, and Adam's state."""
import numpy as np
import pytest

from lorabook.autograd import Tensor
from lorabook.experiments import COMPONENTS, PEAK, memory_ledger, predicted_ledger
from lorabook.experiments.memory import _ledger_model
from lorabook.nn import functional as F

SIZES = (64, 128, 128, 10)


@pytest.fixture(scope="module")
def ledger():
    return memory_ledger(SIZES, rank=4, batch_size=64)


def table(records):
    return {(r["method"], r["component"]): r for r in records}


def test_records_pair_prediction_and_measurement_for_each_component(ledger):
    assert [(r["method"], r["component"]) for r in ledger] == [
        (m, c) for m in ("full", "lora") for c in COMPONENTS + (PEAK,)]
    for record in ledger:
        assert set(record) == {"method", "component", "predicted_bytes", "measured_bytes", "rank", "batch_size",
                               "itemsize", "trainable_params"}
        assert type(record["predicted_bytes"]) is int and type(record["measured_bytes"]) is int


def test_lora_gradients_and_adam_moments_are_three_times_trainable_times_itemsize(ledger):
    rows = table(ledger)
    for method, trainable in (("lora", 2344), ("full", 26122)):
        assert rows[(method, "gradients")]["trainable_params"] == trainable
        for kind in ("predicted_bytes", "measured_bytes"):
            held = rows[(method, "gradients")][kind] + rows[(method, "Adam moments")][kind]
            assert held == 3 * trainable * 4


def test_weights_and_lora_parameters_are_counted_exactly(ledger):
    rows = table(ledger)
    for method in ("full", "lora"):
        assert rows[(method, "base weights")]["measured_bytes"] == 26122 * 4
    assert rows[("lora", "LoRA parameters")]["measured_bytes"] == 2344 * 4
    assert rows[("full", "LoRA parameters")]["measured_bytes"] == 0
    for row in ledger:
        if row["component"] in ("base weights", "LoRA parameters", "gradients", "Adam moments"):
            assert row["predicted_bytes"] == row["measured_bytes"]


def test_traced_activations_match_the_formula_up_to_graph_bookkeeping(ledger):
    for method in ("full", "lora"):
        row = table(ledger)[(method, "activations")]
        extra = row["measured_bytes"] - row["predicted_bytes"]
        # Python objects of the graph (Tensors, Contexts) come on top: a few kB at most.
        assert 0 <= extra <= 0.03 * row["predicted_bytes"] + 16_384, (method, extra)


def _bytes_held_by_graph(root, exclude):
    """Bytes of the distinct arrays the graph from `root` keeps alive, not counting `exclude`'s buffers."""
    def owner(array):
        while array.base is not None:
            array = array.base
        return array

    excluded = {id(owner(a)) for a in exclude}
    held, seen, stack = {}, set(), [root]
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        arrays = [tensor.data]
        if tensor._ctx is not None:
            arrays += [a for a in tensor._ctx._saved if isinstance(a, np.ndarray)]
            stack.extend(tensor._ctx.inputs)
        for array in arrays:
            buffer = owner(array)
            if id(buffer) not in excluded:
                held[id(buffer)] = buffer.nbytes
    return sum(held.values())


@pytest.mark.parametrize("method", ["full", "lora"])
@pytest.mark.parametrize("sizes, rank, batch", [(SIZES, 4, 64), ((20, 50, 30, 40, 5), 3, 17)])
def test_activation_formula_counts_exactly_what_the_engine_keeps(method, sizes, rank, batch):
    model = _ledger_model(method, list(sizes), rank, np.float32, seed=0)
    rng = np.random.default_rng(0)
    X = Tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32))
    y = rng.integers(0, sizes[-1], size=batch)
    loss = F.cross_entropy(model(X), y)
    held = _bytes_held_by_graph(loss, [X.data] + [p.data for p in model.parameters()])
    assert held == predicted_ledger(sizes, rank, batch)[method]["activations"]


def test_float64_doubles_every_byte_count():
    single = predicted_ledger(SIZES, 4, 32, np.float32)
    double = predicted_ledger(SIZES, 4, 32, np.float64)
    for method in single:
        for component, value in single[method].items():
            assert double[method][component] == 2 * value


def test_peak_is_at_least_what_is_held_and_lora_needs_far_less_on_a_wide_model():
    rows = table(memory_ledger((256, 1024, 1024, 10), rank=8, batch_size=64))
    for method in ("full", "lora"):
        assert rows[(method, PEAK)]["measured_bytes"] >= rows[(method, PEAK)]["predicted_bytes"]
    # Full fine-tuning holds gradients and Adam moments for 1.3 M parameters (15.9 MB); LoRA for 35 k.
    assert rows[("lora", PEAK)]["measured_bytes"] < 0.4 * rows[("full", PEAK)]["measured_bytes"]
