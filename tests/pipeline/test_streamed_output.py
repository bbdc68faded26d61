"""The output written piece by piece is, byte for byte, the output rendered whole."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from evidence_publisher.bundle import collection_bundle, ndjson_by_type, transaction_bundle
from evidence_publisher.jsonio import dumps, iter_dumps
from evidence_publisher.pipeline import compile_mappings, iter_outputs, output_count, whole_text

ROOT = Path(__file__).resolve().parents[2]
ITEM = {"b": [1, {"c": Decimal("0.050"), "d": 'é\n"x"'}], "a": [], "e": {}, "f": None}


@pytest.mark.parametrize("count", [0, 1, 3])
def test_iter_dumps_is_dumps(count: int) -> None:
    head = {"resourceType": "Bundle", "type": "collection"}
    items = [dict(ITEM, n=i) for i in range(count)]
    assert "".join(iter_dumps(head, "entry", iter(items))) == dumps({**head, "entry": items})


def test_the_seed_build_streams_what_it_would_render_whole() -> None:
    mapped = compile_mappings([ROOT / "mappings" / "lupus-msc"])
    resources, report = mapped.compiled.resources, mapped.report
    files = {rel: whole_text(t) for rel, t in iter_outputs(resources, report, "https://x.org/fhir")}
    assert len(files) == output_count(resources)
    assert files["bundle-transaction.json"] == dumps(transaction_bundle(resources))
    assert files["bundle-collection.json"] == dumps(collection_bundle(resources, "https://x.org/fhir"))
    assert {rel: text for rel, text in files.items() if rel.startswith("ndjson/")} == {
        f"ndjson/{rtype}.ndjson": text for rtype, text in ndjson_by_type(resources).items()
    }
    assert files["build-report.json"] == dumps(report)
    assert all(files[f"resources/{r['resourceType']}-{r['id']}.json"] == dumps(r) for r in resources)
