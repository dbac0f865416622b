"""Tidy records: every experiment returns a list of plain dicts, one row per run.

    records = compare_adaptation(model, split.target_train, split.target_test)
    print(format_table(records, ["method", "rank", "trainable_params", "test_accuracy"]))
    lora = select(records, method="lora")
    columns = to_columns(lora, ["rank", "test_accuracy"])   # {"rank": [...], ...}
    table = pivot(records, "shift", "method", "test_accuracy")  # wide: one row per shift

Values are Python numbers, strings or None (never NumPy scalars), so a
record prints cleanly, compares with ==, and can be written to JSON as is.
A key that does not apply to a row (the rank of full fine-tuning) is None.
One exception, still JSON-ready: adapt's layer_ranks is a small dict
{layer name: rank}, which format_table prints as "0:16 2:16 4:10" when
asked for it (TABLE_COLUMNS leaves it out).
"""
from __future__ import annotations

import numbers
from typing import Any, Iterable, Optional, Sequence


from lorabook._checks import _show, check_int

Record = dict  # one run: {key: plain Python value}, see the module doc
Records = list  # a list of Record


def plain(value: Any) -> Any:
    """`value` as a plain Python number (NumPy scalars become int, float or bool)."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def check_records(name: str, records: Iterable[Record], required: Sequence[str] = ()) -> Records:
    """`records` as a list of dicts, each with every key in `required`; raises naming `name`."""
    if isinstance(records, dict) or not hasattr(records, "__iter__"):
        raise TypeError(f"{name} must be a list of dicts (records), got {_show(records)}")
    records = list(records)
    if not records:
        raise ValueError(f"{name} must hold at least one record, got none")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise TypeError(f"{name}[{index}] must be a dict, got {_show(record)}")
        missing = [key for key in required if key not in record]
        if missing:
            raise ValueError(
                f"{name}[{index}] lacks the key(s) {missing}; it has {sorted(record)}. "
                f"Pass records made by lorabook.experiments."
            )
    return records


def select(records: Iterable[Record], **criteria: Any) -> Records:
    """The records whose values equal every criterion: select(records, method="lora", rank=4)."""
    records = check_records("records", records)
    return [r for r in records if all(r.get(key) == value for key, value in criteria.items())]


def to_columns(records: Iterable[Record], keys: Optional[Sequence[str]] = None) -> dict:
    """{key: [value of each record]} for plotting; keys default to the first record's."""
    records = check_records("records", records)
    keys = list(records[0]) if keys is None else list(keys)
    records = check_records("records", records, required=keys)
    return {key: [record[key] for record in records] for key in keys}


def _cell(value, digits):
    if value is None:
        return "-"
    if isinstance(value, dict):  # layer_ranks: {"0": 16, "4": 10} -> "0:16 4:10"
        return " ".join(f"{key}:{_cell(plain(item), digits)}" for key, item in value.items())
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):,d}"  # 26,122 reads faster than 26122
    return str(value)


def format_table(records: Iterable[Record], columns: Optional[Sequence[str]] = None, digits: int = 3,
                 markdown: bool = False) -> str:
    """Records as a fixed-width text table, one line per record.

    columns: the keys to show, in order (default: the first record's keys).
    Floats get `digits` decimals, integers thousands separators, None "-".
    markdown: a Markdown table instead (for the README and notebooks).
    """
    records = check_records("records", records)
    columns = list(records[0]) if columns is None else list(columns)
    records = check_records("records", records, required=columns)
    digits = check_int("digits", digits, low=0)
    cells = [[_cell(plain(record[key]), digits) for key in columns] for record in records]
    if markdown:
        rows = [columns, ["---:"] * len(columns)] + cells
        return "\n".join("| " + " | ".join(row) + " |" for row in rows)
    widths = [max(len(key), *(len(row[i]) for row in cells)) for i, key in enumerate(columns)]
    lines = ["  ".join(key.rjust(width) for key, width in zip(columns, widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines.extend("  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in cells)
    return "\n".join(lines)


def pivot(records: Iterable[Record], rows: str, columns: str, values: str) -> Records:
    """Records in wide form for format_table: one dict per distinct `rows` value, one key per `columns` value.

    pivot(records, "shift", "method", "test_accuracy") gives
    [{"shift": "rotate 45", "linear, source only": 0.19, ...}, ...]; a
    missing combination is None. Orders are those of first appearance.
    """
    records = check_records("records", records, required=(rows, columns, values))
    table = {}
    names = list(dict.fromkeys(r[columns] for r in records))
    for record in records:
        row = table.setdefault(record[rows], {rows: record[rows], **{str(n): None for n in names}})
        row[str(record[columns])] = record[values]
    return list(table.values())
