"""The report's rows kept on disk (spilled_rows.py) serialise and compare as the list they stand for."""

from __future__ import annotations

import copy
import pickle
from decimal import Decimal
from pathlib import Path

from evidence_publisher.jsonio import dumps, iter_dumps_pieces
from evidence_publisher.pipeline import compile_mappings
from evidence_publisher.spilled_rows import SpilledRows

ROOT = Path(__file__).resolve().parents[2]

ROWS = [
    {"document": "b.txt", "start": 3, "quote": 'é "x"\n', "resource": "Evidence/z", "values": []},
    {
        "document": "a.txt",
        "start": 9,
        "quote": "q",
        "resource": "Citation/c",
        "values": [{"spans": [[1, 2]]}],
    },
    {"document": "a.txt", "start": 9, "quote": "same key", "resource": "Citation/c", "values": []},
    {"document": "a.txt", "start": 1, "quote": "gone", "resource": "Group/gone", "values": []},
]


def test_rows_read_back_and_serialise_as_a_list() -> None:
    rows = SpilledRows(ROWS)
    assert len(rows) == 4 and bool(rows) and not SpilledRows()
    assert list(rows) == ROWS and rows == ROWS and rows[1] == ROWS[1] and rows[1:3] == ROWS[1:3]
    assert rows != ROWS[:3] and ROWS[:3] != rows
    rows[0]["quote"] = "changed"  # a copy: nothing stored changes
    assert rows[0] == ROWS[0]
    report = {"quotes": rows, "empty": SpilledRows(), "n": 1}
    plain = {"quotes": ROWS, "empty": [], "n": 1}
    assert dumps(report) == dumps(plain) and dumps(report, indent=None) == dumps(plain, indent=None)
    assert "".join(iter_dumps_pieces(report)) == dumps(plain)
    # written from the rows' stored texts, beside members of every other kind
    nested = {"z": {"a": [1, {"b": "é\n"}]}, "quotes": rows, "e": SpilledRows(), "s": "x", "l": [], "d": {}}
    plain_nested = {**nested, "quotes": ROWS, "e": []}
    assert "".join(iter_dumps_pieces(nested)) == dumps(plain_nested)
    assert "".join(iter_dumps_pieces({"wrapped": nested})) == dumps({"wrapped": plain_nested})
    for kept in (pickle.loads(pickle.dumps(rows)), copy.deepcopy(rows)):
        assert type(kept) is list and kept == ROWS


def test_sort_and_keep_orders_stably_as_sorted_does() -> None:
    rows = SpilledRows(ROWS)

    def order(q: dict) -> tuple:
        return (q["document"], q["start"])

    def keep(q: dict) -> bool:
        return q["resource"] != "Group/gone"

    rows.sort_and_keep(order, keep)
    assert rows == [q for q in sorted(ROWS, key=order) if keep(q)]
    assert [q["quote"] for q in rows] == ["q", "same key", 'é "x"\n']


def test_a_spilled_build_keeps_its_report_rows_and_quotes_on_disk() -> None:
    spilled = compile_mappings([ROOT / "mappings" / "lupus-msc"], spill=True)
    held = compile_mappings([ROOT / "mappings" / "lupus-msc"])
    assert isinstance(spilled.report["resources"], SpilledRows)
    assert isinstance(spilled.report["quotes"], SpilledRows) and len(spilled.report["quotes"]) > 10
    assert type(held.report["quotes"]) is list
    assert dumps(spilled.report) == dumps(held.report)


def test_reorder_puts_each_row_where_the_order_says() -> None:
    rows = SpilledRows(ROWS)
    rows.reorder([3, 0, 2, 1])
    assert rows == [ROWS[3], ROWS[0], ROWS[2], ROWS[1]]


def test_rows_appended_as_stored_texts_read_back_as_the_rows() -> None:
    rows: list[dict] = [{"type": "Evidence", "id": "é"}, {"n": Decimal("0.050"), "list": [1, None]}, {}]
    first = SpilledRows(rows)
    second = SpilledRows([{"before": True}])
    second.append_texts(first.stored_texts())
    second.append_texts(first.stored_texts(2))
    second.append_texts([])
    assert second == [{"before": True}, *rows, rows[2]]
    assert list(second.item_texts())[1:] == [*first.item_texts(), "{}"]
