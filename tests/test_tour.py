"""The main job: `python -m lorabook tour`, its command line, and the figures/README writers.

The quick tour runs once per test session (about 3 s); the tests check that
what it prints and writes agrees with the records it measured.
"""
import os
import re

import pytest

from lorabook.__main__ import build_parser, main
from lorabook.figures import replace_block, write_tour_figures
from lorabook.tour import (
    PLANTED, adaptation_table, headline_sentences, planted_table, rank_cap_note, run_experiments, run_tour,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_results():
    return run_experiments(quick=True, progress=False)


# ----- the command line ------------------------------------------------------------------
@pytest.mark.parametrize("argv, expected", [
    ([], ["tour", "figures", "notebooks"]),
    (["tour"], ["--quick", "--no-progress", "--figures-dir"]),
    (["figures"], ["--out"]),
    (["notebooks"], ["paths", "--timeout"]),
])
def test_every_command_has_help_that_lists_its_options(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv + ["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for word in expected:
        assert word in text


def test_a_command_is_required_and_unknown_ones_are_refused(capsys):
    for argv in ([], ["train"]):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(argv)
        assert exit_info.value.code == 2
    assert "invalid choice: 'train'" in capsys.readouterr().err


# ----- what the tour measures and says ----------------------------------------------------
def test_quick_tour_runs_every_method_on_the_rotated_digits(quick_results):
    labels = [r["label"] for r in quick_results.adaptation]
    assert labels[0] == "source only" and labels[1] == "head only" and labels[-1] == "full fine-tuning"
    assert [r["rank"] for r in quick_results.adaptation if r["method"] == "lora"] == [1, 4, 16]
    by_label = {r["label"]: r for r in quick_results.adaptation}
    # the source model collapses on the shifted domain and LoRA recovers most of it
    assert by_label["source only"]["source_accuracy"] > 0.9
    assert by_label["source only"]["test_accuracy"] < 0.3
    assert by_label["LoRA r=4"]["test_accuracy"] > 0.85
    assert by_label["LoRA r=4"]["trainable_params"] < 0.1 * by_label["full fine-tuning"]["trainable_params"]


def test_planted_sweep_is_lowest_at_the_planted_rank(quick_results):
    errors = {r["rank"]: r["test_error"] for r in quick_results.planted}
    assert min(errors, key=errors.get) == PLANTED["k"]
    assert quick_results.planted_summary[0]["best_rank"] == PLANTED["k"]


def test_headline_sentences_quote_the_records(quick_results):
    source, head, *_ = quick_results.adaptation
    full = quick_results.adaptation[-1]
    first, second, third = headline_sentences(quick_results)
    assert f"{source['source_accuracy']:.1%}" in first and f"{source['test_accuracy']:.1%}" in first
    assert f"{full['trainable_params']:,}" in second and f"{full['test_accuracy']:.1%}" in second
    best = max((r for r in quick_results.adaptation if r["method"] == "lora"), key=lambda r: r["test_accuracy"])
    assert f"{best['test_accuracy']:.1%} at its best (r={best['rank']})" in second
    assert f"lowest at r={PLANTED['k']}" in third


def test_the_rank_cap_on_the_10_output_head_is_stated(quick_results):
    # 64-128-128-10: only the head (layer "4", min(out, in) = 10) is capped, and only at r=16.
    note = rank_cap_note(quick_results)
    assert 'layer "4" gets rank 10 at r=16 (' in note
    assert note.count("r=") == 1  # r=1 and r=4 fit every layer
    uncapped = type(quick_results)(**{**quick_results.__dict__,
                                      "adaptation": [r for r in quick_results.adaptation if r["rank"] != 16]})
    assert rank_cap_note(uncapped) is None


def test_tables_show_one_row_per_record(quick_results):
    table = adaptation_table(quick_results).splitlines()
    assert len(table) == 2 + len(quick_results.adaptation)
    assert "wall_time_s" in table[0] and "wall_time_s" not in adaptation_table(quick_results, with_time=False)
    markdown = planted_table(quick_results, markdown=True).splitlines()
    assert markdown[0].startswith("|") and len(markdown) == 2 + len(quick_results.planted)


def test_quick_tour_leaves_the_figures_folder_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "figures").mkdir()
    run_tour(quick=True, progress=False)
    assert list((tmp_path / "figures").iterdir()) == []
    assert "no figures written" in capsys.readouterr().out


def test_tour_writes_its_three_figures_where_asked(quick_results, tmp_path):
    paths = write_tour_figures(quick_results, str(tmp_path / "out"))
    names = sorted(os.path.basename(p) for p in paths)
    assert names == ["accuracy_vs_params.png", "rank_curve.png", "source_collapse.png"]
    for path in paths:
        with open(path, "rb") as file:
            assert file.read(8) == PNG_SIGNATURE
    assert sorted(os.listdir(tmp_path / "out")) == names  # no temporary files left behind


# ----- README blocks -----------------------------------------------------------------------
def test_replace_block_rewrites_only_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:start -->\nold\n<!-- results:end -->\noutro\n", encoding="utf-8")
    replace_block(str(readme), "results", "new line 1\nnew line 2\n")
    assert readme.read_text(encoding="utf-8") == (
        "intro\n<!-- results:start -->\nnew line 1\nnew line 2\n<!-- results:end -->\noutro\n")


def test_replace_block_without_markers_names_the_file_and_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape("<!-- benchmarks:start -->")) as error:
        replace_block(str(readme), "benchmarks", "x")
    assert "README.md" in str(error.value)
    assert readme.read_text(encoding="utf-8") == "no markers here\n"


def test_the_readme_shows_the_figures_that_exist():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "README.md"), encoding="utf-8") as file:
        readme = file.read()
    shown = re.findall(r"\]\((figures/[^)]+\.png)\)", readme)
    assert len(shown) >= 5
    for path in shown:
        assert os.path.exists(os.path.join(root, path)), path
    assert all(marker in readme for marker in ("<!-- results:start -->", "<!-- benchmarks:start -->"))
