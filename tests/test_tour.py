"""The main job: `python -m lorabook tour`, its command line, and the figures/README writers.

The quick tour (3 seeds) runs once per test session; the tests check that
what it prints and writes agrees with the records it measured. The full
run's findings are tested at their margins in tests/studies/test_headline.py.
"""
import os
import re

import pytest

from lorabook.__main__ import build_parser, main
from lorabook.experiments import format_mean_std, values
from lorabook import results_text
from lorabook.figures import write_analysis_figures, write_tour_figures
from lorabook.results_text import (
    adaptation_table, headline_sentences, planted_table, rank_cap_note, replace_block,
)
from lorabook.studies.headline import PLANTED, run_headline
from lorabook.tour import run_tour

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_results():
    return run_headline(quick=True)


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
def test_quick_tour_runs_every_method_on_every_seed(quick_results):
    seeds = quick_results.settings["seeds"]
    assert seeds == (0, 1, 2)
    labels = list(dict.fromkeys(r["label"] for r in quick_results.adaptation))
    assert labels == ["source only", "head only", "LoRA r=1", "LoRA r=4", "LoRA r=16", "full fine-tuning"]
    assert len(quick_results.adaptation) == len(labels) * len(seeds)
    assert sorted({r["seed"] for r in quick_results.adaptation}) == list(seeds)
    source = values(quick_results.adaptation, "source_accuracy", label="source only")
    collapsed = values(quick_results.adaptation, "test_accuracy", label="source only")
    assert min(source) > 0.9 and max(collapsed) < 0.3  # the collapse, in every seed


def test_quick_planted_sweep_is_lowest_at_the_planted_rank_in_every_seed(quick_results):
    for seed in quick_results.settings["seeds"]:
        errors = {r["rank"]: r["test_error"] for r in quick_results.planted if r["seed"] == seed}
        assert min(errors, key=errors.get) == PLANTED["k"]


def test_headline_sentences_quote_the_records(quick_results):
    sentences = headline_sentences(quick_results)
    text = " ".join(sentences)
    source = values(quick_results.adaptation, "source_accuracy", label="source only")
    digits = results_text.PERCENT_DIGITS
    assert format_mean_std(source, digits, percent=True) in sentences[1]
    assert "over 3 seeds" in sentences[0]
    full = values(quick_results.adaptation, "test_accuracy", label="full fine-tuning")
    assert "26,122" in sentences[2] and format_mean_std(full, digits, percent=True) in sentences[2]
    assert f"lowest at r={PLANTED['k']} in 3 of 3 seeds" in text


def test_the_rank_cap_on_the_10_output_head_is_stated(quick_results):
    # 64-128-128-10: only the head (layer "4", min(out, in) = 10) is capped, and only at r=16.
    note = rank_cap_note(quick_results)
    assert 'layer "4" gets rank 10 at r=16 (' in note
    assert note.count("r=") == 1  # r=1 and r=4 fit every layer; three seeds, one mention
    uncapped = type(quick_results)(**{**quick_results.__dict__,
                                      "adaptation": [r for r in quick_results.adaptation if r["rank"] != 16]})
    assert rank_cap_note(uncapped) is None


def test_tables_show_one_row_per_method_and_rank(quick_results):
    table = adaptation_table(quick_results).splitlines()
    assert len(table) == 2 + 6 and "±" in table[2]
    markdown = planted_table(quick_results, markdown=True).splitlines()
    ranks = {r["rank"] for r in quick_results.planted}
    assert markdown[0].startswith("|") and len(markdown) == 2 + len(ranks)
    assert "3 of 3 seeds" in markdown[2 + sorted(ranks).index(PLANTED["k"])]


def test_the_tour_writes_no_figures_unless_asked(quick_results, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "figures").mkdir()
    monkeypatch.setattr("lorabook.tour.run_headline", lambda quick, progress: quick_results)  # no rerun
    run_tour(quick=True, progress=False)
    assert list(tmp_path.iterdir()) == [tmp_path / "figures"]
    assert list((tmp_path / "figures").iterdir()) == []
    assert "No figures written" in capsys.readouterr().out


def test_figures_are_written_where_asked_and_twice_give_the_same_bytes(quick_results, tmp_path):
    first = write_tour_figures(quick_results, str(tmp_path / "a")) + write_analysis_figures(
        quick_results, str(tmp_path / "a"))
    second = write_tour_figures(quick_results, str(tmp_path / "b")) + write_analysis_figures(
        quick_results, str(tmp_path / "b"))
    names = sorted(os.path.basename(p) for p in first)
    assert names == ["accuracy_vs_params.png", "rank_curve.png", "source_collapse.png", "spectrum.png",
                     "subspace_similarity.png"]
    assert sorted(os.listdir(tmp_path / "a")) == names  # no temporary files left behind
    for a, b in zip(first, second):
        with open(a, "rb") as file_a, open(b, "rb") as file_b:
            data = file_a.read()
            assert data[:8] == PNG_SIGNATURE
            assert data == file_b.read(), a
            assert b"Software" not in data and b"matplotlib" not in data  # no version stamped in


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
