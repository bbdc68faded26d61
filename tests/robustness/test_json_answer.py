"""``--format json`` answers are the canonical JSON of the answer, byte for byte, written in pieces."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evidence_publisher import cli
from evidence_publisher.jsonio import dumps


def test_the_json_answer_is_canonical_json_and_nothing_else(capsys: pytest.CaptureFixture) -> None:
    doc = {
        # a rich console would print these as emoji and read [b] as markup
        "quote": "response :warning: in [b]12 of 15[/b] :x: patients",
        "value": Decimal("0.050"),
        "rows": [{"id": f"r{i}", "title": "é\u2028\n"} for i in range(2000)],
    }
    cli._print_json(doc)
    captured = capsys.readouterr()
    assert captured.out == dumps(doc)
    assert captured.err == ""
