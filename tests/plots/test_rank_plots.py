"""The rank figures, checked on the data they draw (not on pixels)."""
import matplotlib

matplotlib.use("Agg")  # tests only; the library never forces a backend

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from lorabook.analysis import energy_curve, singular_values, subspace_similarity_grid
from lorabook.plots.rank import plot_image_grid, plot_spectrum, plot_subspace_similarity, plot_truncation_error


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def lines_by_label(axis):
    return {line.get_label(): line for line in axis.get_lines()}


def test_spectrum_draws_the_singular_values_and_energy_of_each_update():
    rng = np.random.default_rng(0)
    full = rng.standard_normal((12, 9))
    lora = rng.standard_normal((12, 2)) @ rng.standard_normal((2, 9))
    fig = plot_spectrum({"full": full, "LoRA r=2": lora}, normalize=False)
    assert isinstance(fig, Figure)
    ax_values, ax_energy = fig.axes
    values, energy = lines_by_label(ax_values), lines_by_label(ax_energy)
    assert set(values) == set(energy) == {"full", "LoRA r=2"}
    np.testing.assert_allclose(values["full"].get_ydata(), singular_values(full))
    np.testing.assert_allclose(values["LoRA r=2"].get_xdata(), np.arange(1, 10))
    np.testing.assert_allclose(energy["LoRA r=2"].get_ydata(), energy_curve(lora))
    assert [t.get_text() for t in ax_values.get_legend().get_texts()] == ["full", "LoRA r=2"]


def test_spectrum_normalizes_by_the_largest_singular_value():
    W = np.diag([4.0, 2.0, 1.0])
    fig = plot_spectrum(W)  # a bare matrix is drawn as "W"
    line = lines_by_label(fig.axes[0])["W"]
    np.testing.assert_allclose(line.get_ydata(), [1.0, 0.5, 0.25])


def test_spectrum_draws_into_given_axes():
    fig, axes = plt.subplots(1, 2)
    assert plot_spectrum({"a": np.eye(3)}, ax=axes, log_scale=True) is fig
    assert axes[0].get_yscale() == "log"


def test_spectrum_rejects_bad_input():
    with pytest.raises(ValueError, match="updates must hold at least one"):
        plot_spectrum({})
    with pytest.raises(ValueError, match=r"updates\['z'\] is all zeros"):
        plot_spectrum({"z": np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"updates\['v'\] must be a 2-D"):
        plot_spectrum({"v": np.ones(3)})
    _, single = plt.subplots()
    with pytest.raises(ValueError, match="ax must be None or a pair"):
        plot_spectrum({"a": np.eye(2)}, ax=single)


def test_similarity_heat_map_shows_the_grid_with_a_colorbar():
    rng = np.random.default_rng(1)
    grid = subspace_similarity_grid(rng.standard_normal((3, 10)), rng.standard_normal((5, 10)))
    fig = plot_subspace_similarity(grid, names=("r=3", "r=5"), title="two runs")
    heat_ax = fig.axes[0]
    images = heat_ax.get_images()
    assert len(images) == 1
    np.testing.assert_allclose(images[0].get_array(), grid)
    assert images[0].get_clim() == (0.0, 1.0)
    assert len(fig.axes) == 2  # the heat map and its colorbar
    assert heat_ax.get_ylabel().startswith("i") and "r=3" in heat_ax.get_ylabel()
    assert heat_ax.get_xlabel().startswith("j") and "r=5" in heat_ax.get_xlabel()
    assert heat_ax.get_title() == "two runs"


def test_truncation_error_markers_sit_on_the_eckart_young_lines():
    s = np.array([5.0, 3.0, 1.0, 0.5])
    rng = np.random.default_rng(2)
    U, _ = np.linalg.qr(rng.standard_normal((7, 4)))
    V, _ = np.linalg.qr(rng.standard_normal((6, 4)))
    W = (U * s) @ V.T
    fig = plot_truncation_error(W)
    lines = list(fig.axes[0].get_lines())
    assert len(lines) == 4
    pred_fro, meas_fro, pred_spec, meas_spec = (line.get_ydata() for line in lines)
    np.testing.assert_allclose(lines[0].get_xdata(), np.arange(1, 7))
    np.testing.assert_allclose(pred_spec, [3.0, 1.0, 0.5, 0.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(pred_fro, np.sqrt([1.25 + 9, 1.25, 0.25, 0, 0, 0]), atol=1e-12)
    np.testing.assert_allclose(meas_spec, pred_spec, atol=1e-10)
    np.testing.assert_allclose(meas_fro, pred_fro, atol=1e-10)


def test_truncation_error_chosen_ranks_and_bad_ranks():
    W = np.random.default_rng(3).standard_normal((5, 5))
    fig = plot_truncation_error(W, ranks=[1, 3])
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_xdata(), [1, 3])
    with pytest.raises(ValueError, match="ranks entry must be between 1 and"):
        plot_truncation_error(W, ranks=[0, 2])
    with pytest.raises(ValueError, match="ranks must hold at least one"):
        plot_truncation_error(W, ranks=[])


def test_image_grid_shows_one_picture_per_row():
    rng = np.random.default_rng(4)
    components = rng.uniform(0, 1, (10, 64))
    fig = plot_image_grid(components, image_shape=(8, 8), ncols=4, titles=[f"c{i}" for i in range(10)])
    pictures = [image for axis in fig.axes for image in axis.get_images()]
    assert len(pictures) == 10
    assert all(isinstance(p, AxesImage) for p in pictures)
    np.testing.assert_allclose(pictures[3].get_array(), components[3].reshape(8, 8))
    assert pictures[0].get_cmap().name == "gray_r"
    assert [a.get_title() for a in fig.axes if a.get_images()] == [f"c{i}" for i in range(10)]
    assert len(fig.axes) == 12  # 3 rows of 4, the last two left blank


def test_signed_components_get_a_diverging_map_centred_on_zero():
    components = np.random.default_rng(5).standard_normal((3, 4, 4))
    fig = plot_image_grid(components, image_shape=(4, 4))
    image = fig.axes[0].get_images()[0]
    low, high = image.get_clim()
    assert image.get_cmap().name == "RdBu_r" and low == pytest.approx(-high)


def test_image_grid_rejects_bad_input():
    with pytest.raises(ValueError, match=r"images rows must have .* = 64 entries"):
        plot_image_grid(np.ones((2, 60)))
    with pytest.raises(ValueError, match="titles must have one entry per image"):
        plot_image_grid(np.ones((2, 64)), titles=["a"])
    with pytest.raises(ValueError, match="images must be 2-D"):
        plot_image_grid(np.ones(64))
    with pytest.raises(ValueError, match="ncols must be >= 1"):
        plot_image_grid(np.ones((2, 64)), ncols=0)


def test_similarity_heat_map_ticks_are_whole_directions():
    grid = np.full((4, 16), 0.5)
    fig = plot_subspace_similarity(grid)
    ax = fig.axes[0]
    assert list(ax.get_yticks()) == [1, 2, 3, 4]
    assert all(float(t).is_integer() and 1 <= t <= 16 for t in ax.get_xticks())
    plt.close(fig)
