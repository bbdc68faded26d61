"""Reading HTTP answers from servers within the response-size limit.

Every outbound call (publish, the CDS service's fhirServer fetches, JWKS and knowledge-server
reads) goes through ``transport.HttpTransport``, which asks for a streamed response with redirects
off and reads its body here, so a hostile or broken server costs bounded memory: Content-Length is
checked first, then the running total while reading (after content decoding, so a compressed bomb
is stopped too).
"""

from __future__ import annotations

import requests

from evidence_publisher.errors import InputLimitError
from evidence_publisher.limits import SERVER_RESPONSE_BYTES, current

READ_CHUNK = 1 << 16


def read_limited(resp: requests.Response, where: str, limit: int | None = None) -> bytes:
    """The body of a streamed ``resp``; InputLimitError past ``limit`` (default: the server
    response size limit in force). Closes the response."""
    limit = current(SERVER_RESPONSE_BYTES) if limit is None else limit
    try:
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise InputLimitError(where, SERVER_RESPONSE_BYTES, f"{int(declared):,} bytes announced", limit)
        buf = bytearray()
        for chunk in resp.iter_content(READ_CHUNK):
            buf += chunk
            if len(buf) > limit:
                raise InputLimitError(where, SERVER_RESPONSE_BYTES, f"more than {limit:,} bytes", limit)
        return bytes(buf)
    finally:
        resp.close()
