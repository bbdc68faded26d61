"""The HAPI stand-in as a local FHIR server, to try ``publish`` and ``verify`` without Docker.

From the repository root, with the test extra installed (``pip install -e '.[test]'``)::

    .venv/bin/python -m tests.publish.standin_server            # http://127.0.0.1:8080/fhir
    .venv/bin/python -m tests.publish.standin_server --port 9090

It serves until Ctrl-C, keeps everything in memory (lost when it stops) and listens on the
loopback interface only. It reproduces HAPI's publishing behaviours (see ``hapi_standin.py``), not a
whole FHIR server: use a real HAPI for anything else.
"""

from __future__ import annotations

import argparse
import logging
import sys

from werkzeug import Request
from werkzeug.serving import make_server

from .hapi_standin import HapiStandIn

LOOPBACK = "127.0.0.1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.publish.standin_server", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080; 0: any)")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    standin = HapiStandIn()
    try:
        server = make_server(LOOPBACK, args.port, Request.application(standin.handle), threaded=True)
    except OSError as exc:
        print(f"error: cannot listen on {LOOPBACK}:{args.port}: {exc.strerror}; try --port", file=sys.stderr)
        return 1
    print(
        f"HAPI stand-in (in memory) serving http://{LOOPBACK}:{server.server_port}/fhir; Ctrl-C stops it",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print(f"stopped; {standin.count()} resources were held", file=sys.stderr)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
