"""Fixtures of the site tests: the seed corpus' site, built once, and a loopback HTTP server."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence_publisher.site import SiteResult, make_site, read_build


@pytest.fixture(scope="session")
def seed_site(built_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> SiteResult:
    return make_site(read_build(built_corpus), tmp_path_factory.mktemp("site") / "site", [built_corpus])


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def site_url(seed_site: SiteResult) -> Iterator[str]:
    """The site served on 127.0.0.1 (a free port), as the browser tests see it."""
    handler = functools.partial(_Quiet, directory=str(seed_site.out_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
