"""The seed corpus' site in a real browser (headless Debian chromium over a loopback HTTP server).

Every page is loaded once; the tests then check what the browser saw: no console error, no request
leaving 127.0.0.1, no broken link or anchor, every statistic on a study page equal to its Evidence
resource, every quote link landing on a highlighted number, screenshots kept as artifacts. Without
chromium (no root or apt-get to install it) the whole module is skipped with one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from tests.website.browser import ensure_browser, full_page_screenshot, start_driver

from evidence_publisher.jsonio import load_file
from evidence_publisher.sources.quotes import number_occurs

BROWSER = ensure_browser()
if isinstance(BROWSER, str):
    pytest.skip(f"SITE BROWSER TESTS SKIPPED: {BROWSER}", allow_module_level=True)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

_COLLECT = """
return {
  ids: Array.from(document.querySelectorAll('[id]'), e => e.id),
  links: Array.from(document.querySelectorAll('a[href]'), a => a.href),
  resources: Array.from(document.querySelectorAll('[src], link[href]'), e => e.src || e.href),
  unnamed_svgs: Array.from(document.querySelectorAll('svg')).filter(
    s => s.getAttribute('role') !== 'img'
         || !(s.getAttribute('aria-label') || s.getAttribute('aria-labelledby'))
  ).length,
  tables_without_headers: Array.from(document.querySelectorAll('table')).filter(
    t => !t.querySelector('th')).length,
};
"""


@dataclass
class Visit:
    url: str
    ids: set[str]
    links: list[str]
    console: list[dict]
    requests: list[str]
    unnamed_svgs: int
    tables_without_headers: int
    stats: list[dict] = field(default_factory=list)


@pytest.fixture(scope="module")
def driver():
    assert not isinstance(BROWSER, str)
    drv = start_driver(BROWSER)
    try:
        yield drv
    finally:
        drv.quit()


def _requests(perf_log: list[dict]) -> list[str]:
    urls = []
    for entry in perf_log:
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.fixture(scope="module")
def visits(driver, site_url: str, seed_site) -> dict[str, Visit]:
    pages = sorted(p.relative_to(seed_site.out_dir).as_posix() for p in seed_site.out_dir.rglob("*.html"))
    driver.get("about:blank")
    driver.get_log("browser")
    driver.get_log("performance")
    found = {}
    for rel in pages:
        url = site_url + rel
        driver.get(url)
        seen = driver.execute_script(_COLLECT)
        stats = driver.execute_script(
            """return Array.from(document.querySelectorAll('[data-evidence] [data-fhir]'), s => ({
                 evidence: s.closest('[data-evidence]').dataset.evidence, path: s.dataset.fhir,
                 text: s.querySelector('.value').textContent, derived: s.classList.contains('is-derived'),
                 links: Array.from(s.querySelectorAll('a'), a => a.href)}));"""
        )
        found[rel] = Visit(
            url,
            set(seen["ids"]),
            seen["links"] + seen["resources"],
            driver.get_log("browser"),
            _requests(driver.get_log("performance")),
            seen["unnamed_svgs"],
            seen["tables_without_headers"],
            stats,
        )
    return found


def test_every_page_loads_without_console_errors_or_outside_requests(visits, site_url: str) -> None:
    assert len(visits) >= 10
    for rel, visit in visits.items():
        assert visit.console == [], (rel, visit.console)
        assert visit.requests, rel  # the performance log works
        # the browser's own pages (chrome://, about:) never leave the machine; everything else
        # must come from the loopback server
        outside = [u for u in visit.requests if not u.startswith((site_url, "chrome://", "about:", "data:"))]
        assert outside == [], (rel, outside)


def test_no_broken_links_or_anchors(visits, site_url: str) -> None:
    checked = 0
    for rel, visit in visits.items():
        for link in visit.links:
            assert link.startswith(site_url), (rel, link)  # no external link at all
            page, fragment = urldefrag(link)
            target = urlsplit(page).path.lstrip("/")
            if target.endswith(".html"):
                assert target in visits, (rel, link)
                if fragment:
                    assert fragment in visits[target].ids, (rel, link)
            else:
                assert target in ("assets/site.css", "assets/favicon.svg"), (rel, link)
            checked += 1
    assert checked > 300


def test_pages_are_accessible_by_structure(visits) -> None:
    for rel, visit in visits.items():
        assert visit.unnamed_svgs == 0, rel
        assert visit.tables_without_headers == 0, rel


def _at(resource: dict, path: str):
    node = resource
    for part in path.replace("]", "").replace("[", ".").split("."):
        node = node[int(part)] if part.isdigit() else node[part]
    return node


def test_every_statistic_on_a_study_page_equals_its_evidence(visits, built_corpus: Path) -> None:
    shown: set[tuple[str, str]] = set()
    for rel, visit in visits.items():
        if not rel.startswith("studies/"):
            continue
        for stat in visit.stats:
            evidence = load_file(built_corpus / "resources" / f"Evidence-{stat['evidence']}.json")
            value = _at(evidence, stat["path"])
            assert stat["text"] == str(value), (rel, stat)  # 858.0 stays 858.0
            shown.add((stat["evidence"], stat["path"]))
    expected = set()
    for file in (built_corpus / "resources").glob("Evidence-*.json"):
        ev = load_file(file)
        stat = ev["statistic"][0]
        eid = ev["id"]
        if "value" in stat.get("quantity", {}):
            expected.add((eid, "statistic[0].quantity.value"))
        if "numberAffected" in stat:
            expected.add((eid, "statistic[0].numberAffected"))
        if "numberOfParticipants" in stat.get("sampleSize", {}):
            expected.add((eid, "statistic[0].sampleSize.numberOfParticipants"))
        for i, est in enumerate(stat.get("attributeEstimate", [])):
            if "value" in est.get("quantity", {}):
                expected.add((eid, f"statistic[0].attributeEstimate[{i}].quantity.value"))
            for end in ("low", "high"):
                if "value" in est.get("range", {}).get(end, {}):
                    expected.add((eid, f"statistic[0].attributeEstimate[{i}].range.{end}.value"))
    assert len(expected) > 60
    assert expected - shown == set()  # every number of every Evidence is on its study page


def test_every_quote_link_lands_on_a_highlighted_span_with_the_number(driver, visits, site_url: str) -> None:
    by_page: dict[str, list[tuple[str, str]]] = {}
    for rel, visit in visits.items():
        if rel.startswith("studies/"):
            for stat in visit.stats:
                for link in stat["links"]:
                    page, fragment = urldefrag(link)
                    by_page.setdefault(page, []).append((fragment, stat["text"]))
                assert stat["links"] or stat["derived"], (rel, stat)  # only derived values have no quote
    assert sum(len(v) for v in by_page.values()) > 60
    for page, targets in sorted(by_page.items()):
        driver.get(page)
        for fragment, text in sorted(set(targets)):
            span = driver.execute_script(
                """const e = document.getElementById(arguments[0]);
                   return e && {cls: e.className, text: e.textContent,
                                marked: e.querySelectorAll('mark.quote').length};""",
                fragment,
            )
            assert span is not None, (page, fragment)
            assert span["cls"] == "num" and span["marked"] > 0, (page, fragment, span)
            assert number_occurs(Decimal(text), span["text"]), (page, fragment, text, span["text"])
    # following one link for real: the number becomes the :target and is highlighted
    page, targets = sorted(by_page.items())[0]
    driver.get(f"{page}#{targets[0][0]}")
    target = driver.execute_script(
        "const t = document.querySelector(':target');return t && [t.id, getComputedStyle(t).backgroundColor];"
    )
    assert target[0] == targets[0][0] and target[1] not in ("rgba(0, 0, 0, 0)", "transparent")


def test_screenshots_are_kept(driver, site_url: str, seed_site) -> None:
    rec = next(p for p in (seed_site.out_dir / "recommendations").glob("*.html"))
    shots = {
        "recommendation.png": f"{site_url}recommendations/{rec.name}",
        "study-liang-2010.png": f"{site_url}studies/liang-2010-study.html",
    }
    for name, url in shots.items():
        full_page_screenshot(driver, url, ARTIFACTS / name)
        data = (ARTIFACTS / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name
    print(f"\nsite screenshots kept in {ARTIFACTS}")
