"""Regenerate the README's screenshot of the seed corpus' site:

    .venv/bin/python -m tests.website.make_screenshot [docs/site-screenshot.png]

Builds the seed corpus and its site in a temporary directory, serves it on 127.0.0.1 and takes a
1280x1000 screenshot of the recommendation page with Debian's headless chromium.
"""

from __future__ import annotations

import functools
import http.server
import sys
import tempfile
import threading
from pathlib import Path

from tests.website.browser import ensure_browser, start_driver

from evidence_publisher.pipeline import build
from evidence_publisher.site import make_site, read_build

ROOT = Path(__file__).resolve().parents[2]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main(out: Path) -> int:
    browser = ensure_browser()
    if isinstance(browser, str):
        print(f"cannot take the screenshot: {browser}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        build([ROOT / "mappings" / "lupus-msc"], out_dir=dist, validate=False)
        site = make_site(read_build(dist), Path(tmp) / "site", [dist]).out_dir
        rec = next((site / "recommendations").glob("*.html")).name
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site))
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        driver = start_driver(browser, 1280, 1000)
        try:
            driver.get(f"http://127.0.0.1:{server.server_address[1]}/recommendations/{rec}")
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
        finally:
            driver.quit()
            server.shutdown()
            server.server_close()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "site-screenshot.png"))
