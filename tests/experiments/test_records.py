"""Tidy records: tables, selection, columns."""
import numpy as np
import pytest

from lorabook.experiments import format_table, select, to_columns

RECORDS = [
    {"method": "full", "rank": None, "trainable_params": 26122, "test_accuracy": 0.9238},
    {"method": "lora", "rank": 4, "trainable_params": np.int64(2344), "test_accuracy": np.float64(0.92785)},
]


def test_format_table_aligns_columns_and_formats_each_type():
    assert format_table(RECORDS, ["method", "rank", "trainable_params", "test_accuracy"]) == (
        "method  rank  trainable_params  test_accuracy\n"
        "------  ----  ----------------  -------------\n"
        "  full     -            26,122          0.924\n"
        "  lora     4             2,344          0.928"
    )
    assert format_table(RECORDS, ["test_accuracy"], digits=1).splitlines()[2:] == ["          0.9", "          0.9"]


def test_a_dict_cell_prints_as_key_colon_value_pairs():
    # adapt's layer_ranks; a bare str(dict) would put quotes and braces into the table
    records = [{"label": "LoRA r=16", "layer_ranks": {"0": 16, "2": 16, "4": np.int64(10)}},
               {"label": "full fine-tuning", "layer_ranks": None}]
    assert format_table(records).splitlines()[2:] == ["       LoRA r=16  0:16 2:16 4:10",
                                                      "full fine-tuning               -"]


def test_format_table_defaults_to_the_first_records_keys():
    assert format_table(RECORDS).splitlines()[0].split() == ["method", "rank", "trainable_params", "test_accuracy"]


def test_select_and_to_columns():
    assert select(RECORDS, method="lora") == [RECORDS[1]]
    assert select(RECORDS, method="lora", rank=8) == []
    assert to_columns(RECORDS, ["method", "rank"]) == {"method": ["full", "lora"], "rank": [None, 4]}


def test_bad_records_are_named():
    with pytest.raises(ValueError, match="records must hold at least one record"):
        format_table([])
    with pytest.raises(TypeError, match=r"records\[1\] must be a dict"):
        format_table([RECORDS[0], 3])
    with pytest.raises(ValueError, match=r"records\[0\] lacks the key\(s\) \['wall_time_s'\]"):
        format_table(RECORDS, ["method", "wall_time_s"])
    with pytest.raises(TypeError, match="records must be a list of dicts"):
        to_columns(RECORDS[0])


def test_format_table_as_markdown():
    assert format_table(RECORDS, ["method", "trainable_params"], markdown=True) == (
        "| method | trainable_params |\n"
        "| ---: | ---: |\n"
        "| full | 26,122 |\n"
        "| lora | 2,344 |"
    )
