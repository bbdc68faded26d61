"""publish / verify against servers that redirect, lie, overflow or reject (issue 9, points 5-7).

Every case runs the real CLI in-process against a local HTTP server and checks the documented exit
code, the message, and that nothing reached a place it must not (a second origin, the terminal's
traceback, a log line holding a secret).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from werkzeug import Request, Response

from evidence_publisher.errors import ExitCode

from .net_fixtures import *  # noqa: F403 - the fixtures
from .net_fixtures import TRACEBACK, fhir_response, is_transaction, run_cli

SECRET = "s3cr3t-T0KEN-value"


def _redirect(target: str, status: int = 307) -> Response:
    return Response("", status=status, headers={"Location": target})


# ----------------------------------------------------------------------------------- redirects
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_transaction_redirect_to_another_origin_is_not_followed(
    serve_fhir, other_server, small_dist, capsys, caplog, status
):
    other_server.expect_request("/evil").respond_with_data("should never be called")
    target = other_server.url_for("/evil")
    server, url = serve_fhir(lambda r: _redirect(target, status) if is_transaction(r) else None)
    code, _, err = run_cli(
        capsys, caplog, "publish", str(small_dist), "--server", url, "--no-validate", "--no-preread"
    )
    assert code == ExitCode.SERVER_UNSUITABLE
    assert len(other_server.log) == 0  # not one request reached the redirect target
    assert f"HTTP {status}, redirecting to another origin: {target}" in err
    assert "not followed" in err
    assert server.hapi.count() == 0
    assert [m for m, _ in server.seen].count("POST") == 1  # and the POST was not retried


def test_redirect_target_is_redacted(serve_fhir, other_server, small_dist, capsys, caplog):
    target = other_server.url_for(f"/fhir?access_token={SECRET}&x=1")
    _, url = serve_fhir(lambda r: _redirect(target) if is_transaction(r) else None)
    code, out, err = run_cli(
        capsys, caplog, "publish", str(small_dist), "--server", url, "--no-validate", "--no-preread"
    )
    assert code == ExitCode.SERVER_UNSUITABLE
    assert SECRET not in out + err
    assert "access_token=***" in err
    assert len(other_server.log) == 0


def test_same_origin_redirect_on_metadata_names_the_new_base(serve_fhir, small_dist, capsys, caplog):
    server, url = serve_fhir(
        lambda r: (
            _redirect(url.replace("/fhir", "/r5/fhir/metadata"), 301) if r.path == "/fhir/metadata" else None
        )
    )
    code, _, err = run_cli(capsys, caplog, "verify", str(small_dist), "--server", url, "--no-validate")
    assert code == ExitCode.SERVER_UNSUITABLE
    assert "redirecting on the same server" in err
    assert f"--server {url.replace('/fhir', '/r5/fhir')}" in err
    assert [p for _, p in server.seen] == ["/fhir/metadata"]  # the target was not requested


def test_smart_discovery_and_token_redirects_are_refused(
    serve_fhir, other_server, small_dist, tmp_path, capsys, caplog
):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(pem)
    token_url = other_server.url_for("/token")

    def discovery_redirect(request: Request) -> Response | None:
        if request.path.endswith("/.well-known/smart-configuration"):
            return _redirect(other_server.url_for("/smart"))
        return None

    def token_redirect(request: Request) -> Response | None:
        if request.path.endswith("/.well-known/smart-configuration"):
            return fhir_response({"token_endpoint": f"{url}/token"})
        if request.path.endswith("/token"):
            return _redirect(token_url)
        return None

    argv = ["--no-validate", "--smart-key-file", str(key_file), "--smart-client-id", "app"]
    for override in (discovery_redirect, token_redirect):
        _, url = serve_fhir(override)
        code, _, err = run_cli(capsys, caplog, "publish", str(small_dist), "--server", url, *argv)
        assert code == ExitCode.SERVER_UNSUITABLE, err
        assert "not followed" in err
    assert len(other_server.log) == 0  # neither the discovery nor the signed assertion left


# ------------------------------------------------------------------------------ secrets in URLs
@pytest.mark.parametrize(
    ("server", "named"),
    [
        (f"http://127.0.0.1:9/fhir?access_token={SECRET}", "'access_token'"),
        (f"http://127.0.0.1:9/fhir?_format=json&apikey={SECRET}", "'apikey'"),
        (f"http://127.0.0.1:9/fhir?X-Amz-Signature={SECRET}", "'X-Amz-Signature'"),
        (f"http://user:{SECRET}@127.0.0.1:9/fhir", "user:password@"),
        ("http://127.0.0.1:9/fhir?_format=json", "without a query string"),
    ],
)
def test_credentials_in_server_url_are_refused_before_any_request(small_dist, capsys, caplog, server, named):
    for command in ("publish", "verify"):
        code, out, err = run_cli(
            capsys, caplog, command, str(small_dist), "--server", server, "--no-validate"
        )
        assert code == ExitCode.USAGE
        assert named in err
        assert SECRET not in out + err
        assert "--token-file or FHIR_TOKEN" in err


def _error_paths(other_url: str) -> dict[str, object]:
    def status(code: int, body: str = "", ctype: str = "application/fhir+json"):
        return lambda r: Response(body, status=code, content_type=ctype)

    oo = (
        '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing",'
        '"diagnostics":"boom"}]}'
    )
    return {
        "unreachable": None,
        "401": status(401, oo),
        "500": status(500, oo),
        "invalid JSON": status(200, "<html>login</html>", "text/html"),
        "redirect": lambda r: _redirect(f"{other_url}?access_token={SECRET}"),
    }


@pytest.mark.parametrize("path", ["unreachable", "401", "500", "invalid JSON", "redirect"])
def test_secret_in_url_never_printed_or_logged_on_any_error_path(
    serve_fhir, other_server, small_dist, capsys, caplog, monkeypatch, path
):
    """Defence in depth: even a URL that got past the up-front check is redacted in every
    message and log line (checked at DEBUG level)."""
    import evidence_publisher.fhirclient.client as client_module

    monkeypatch.setattr(client_module, "check_base_url", lambda url, option: url.rstrip("/"))
    monkeypatch.setenv("FHIR_TOKEN", SECRET)
    override = _error_paths(other_server.url_for("/elsewhere"))[path]
    if path == "unreachable":
        url = f"http://127.0.0.1:9/fhir?access_token={SECRET}"
    else:
        _, base = serve_fhir(override)
        url = f"{base}?access_token={SECRET}"
    code, out, err = run_cli(
        capsys, caplog, "publish", str(small_dist), "--server", url, "--no-validate", "--retries", "0"
    )
    assert code in (
        ExitCode.SERVER_UNREACHABLE,
        ExitCode.AUTH_FAILED,
        ExitCode.SERVER_UNSUITABLE,
        ExitCode.REJECTED_BY_SERVER,
    ), err
    assert SECRET not in out + err
    assert TRACEBACK not in err
    assert "access_token=***" in err


# -------------------------------------------------------------------------- invalid responses
@pytest.mark.parametrize(
    ("body", "ctype", "expected"),
    [
        ("<html><body>Sign in</body></html>", "text/html", "the body is not JSON (text/html, 33 bytes)"),
        ("", "application/fhir+json", "but an empty body"),
        ("[1, 2]", "application/fhir+json", "the body is a JSON array"),
        ('{"hello": 1}', "application/fhir+json", "the body is a JSON object without resourceType"),
    ],
)
def test_metadata_that_is_not_fhir_is_described(
    serve_fhir, small_dist, capsys, caplog, body, ctype, expected
):
    _, url = serve_fhir(
        lambda r: Response(body, status=200, content_type=ctype) if r.path == "/fhir/metadata" else None
    )
    code, _, err = run_cli(capsys, caplog, "publish", str(small_dist), "--server", url, "--no-validate")
    assert code == ExitCode.SERVER_UNSUITABLE
    assert "answered with HTTP 200" in err and expected in err
    assert "None" not in err


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "error",
                        "code": "processing",
                        "diagnostics": "HAPI-0550: could not execute batch",
                    }
                ],
            },
            "the body is a FHIR OperationOutcome resource (HAPI-0550: could not execute batch), "
            "not a transaction-response Bundle",
        ),
        ("<html>proxy</html>", "the body is not JSON (application/fhir+json, 18 bytes)"),
        (
            {"resourceType": "Bundle", "type": "batch-response", "entry": []},
            "a Bundle of type 'batch-response'",
        ),
        ({"resourceType": "Bundle", "type": "transaction-response"}, "has 0 entries"),
        ({"resourceType": "Bundle", "type": "transaction-response", "entry": [1, "x"]}, "has 2 entries"),
    ],
)
def test_transaction_answer_that_is_not_a_transaction_response(
    serve_fhir, small_dist, capsys, caplog, answer, expected
):
    _, url = serve_fhir(lambda r: fhir_response(answer) if is_transaction(r) else None)
    code, _, err = run_cli(capsys, caplog, "publish", str(small_dist), "--server", url, "--no-validate")
    assert code == ExitCode.SERVER_UNSUITABLE, err
    assert expected in err
    assert "may or may not have been written" in err  # the server got the transaction
    assert "a None of 0 entries" not in err and TRACEBACK not in err


def test_malformed_entries_of_a_transaction_response_do_not_crash(serve_fhir, small_dist, capsys, caplog):
    def answer(request: Request) -> Response | None:
        if not is_transaction(request):
            return None
        import json

        n = len(json.loads(request.get_data())["entry"])
        weird = [{"response": "x"}, {"response": {"status": 7, "location": "///", "etag": 5}}]
        entries = [weird[i % 2] for i in range(n)]
        return fhir_response({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})

    _, url = serve_fhir(answer)
    code, _, err = run_cli(capsys, caplog, "publish", str(small_dist), "--server", url, "--no-validate")
    assert code == ExitCode.OK, err  # committed; what is unreadable is left blank, not guessed
    assert TRACEBACK not in err


def test_malformed_capability_statement_is_unsuitable_not_a_crash(serve_fhir, small_dist, capsys, caplog):
    statement = {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "5.0.0",
        "rest": [
            "x",
            {"mode": "server", "resource": [1, {"type": "Evidence", "interaction": "all"}], "interaction": 3},
        ],
    }
    _, url = serve_fhir(lambda r: fhir_response(statement) if r.path == "/fhir/metadata" else None)
    code, _, err = run_cli(capsys, caplog, "verify", str(small_dist), "--server", url, "--no-validate")
    assert code == ExitCode.SERVER_UNSUITABLE
    assert "resource type Group is not supported" in err
    assert TRACEBACK not in err


def test_server_text_cannot_inject_markup_or_terminal_escapes(serve_fhir, small_dist, capsys, caplog):
    nasty = "HAPI-0000: [/] [bold]x[/bold] \x1b[31mred\x1b[0m\nsecond line"
    oo = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": nasty}],
    }
    _, url = serve_fhir(lambda r: fhir_response(oo, 422) if is_transaction(r) else None)
    code, _, err = run_cli(capsys, caplog, "publish", str(small_dist), "--server", url, "--no-validate")
    assert code == ExitCode.REJECTED_BY_SERVER
    assert "[/] [bold]x[/bold]" in err  # printed literally, not read as rich markup
    assert "\x1b" not in err.split("\n", 1)[0]


# ------------------------------------------------------------------------------------ limits
def test_response_over_the_size_limit(serve_fhir, small_dist, capsys, caplog, monkeypatch):
    monkeypatch.setenv("EP_MAX_RESPONSE_BYTES", "2000")
    _, url = serve_fhir()
    code, _, err = run_cli(capsys, caplog, "verify", str(small_dist), "--server", url, "--no-validate")
    assert code == ExitCode.INPUT_LIMIT
    assert "over the server response size limit of 2,000 bytes" in err
    assert "--max-response-bytes N or EP_MAX_RESPONSE_BYTES" in err


def test_response_without_content_length_is_cut_while_reading(
    serve_fhir, small_dist, capsys, caplog, monkeypatch
):
    monkeypatch.setenv("EP_MAX_RESPONSE_BYTES", "5000")

    def stream(request: Request) -> Response | None:
        if request.path != "/fhir/metadata":
            return None
        return Response((b"x" * 1000 for _ in range(100)), status=200, content_type="application/fhir+json")

    _, url = serve_fhir(stream)
    code, _, err = run_cli(capsys, caplog, "verify", str(small_dist), "--server", url, "--no-validate")
    assert code == ExitCode.INPUT_LIMIT
    assert "more than 5,000 bytes" in err


def test_response_nested_too_deep(serve_fhir, small_dist, capsys, caplog):
    deep = '{"resourceType":"CapabilityStatement","x":' + "[" * 50_000 + "]" * 50_000 + "}"
    _, url = serve_fhir(lambda r: fhir_response(deep) if r.path == "/fhir/metadata" else None)
    code, _, err = run_cli(capsys, caplog, "verify", str(small_dist), "--server", url, "--no-validate")
    assert code == ExitCode.INPUT_LIMIT
    assert "nesting depth limit" in err and TRACEBACK not in err


# ---------------------------------------------------------------------------- failure summary
REJECT_TEXT = "HAPI-0550: could not execute batch"


def _reject(request: Request) -> Response | None:
    if not is_transaction(request):
        return None
    oo = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": REJECT_TEXT}],
    }
    return fhir_response(oo, 422)


def _resource_count(dist: Path) -> int:
    return len(list((dist / "resources").glob("*.json")))


def test_rejected_transaction_is_one_line_without_verbose(serve_fhir, seed_dist, capsys, caplog):
    _, url = serve_fhir(_reject)
    code, out, err = run_cli(
        capsys, caplog, "publish", str(seed_dist), "--server", url, "--no-validate", "--single-transaction"
    )
    assert code == ExitCode.REJECTED_BY_SERVER
    assert f"error: transaction rejected by the server (HTTP 422): {REJECT_TEXT} — nothing was written" in err
    assert "rolled back" not in out + err  # no row per resource
    assert out.strip().splitlines() == [out.strip().splitlines()[-1]]  # only the counts line
    assert f"{_resource_count(seed_dist)} failed" in out
    assert "--verbose" in err


def test_rejected_transaction_table_with_verbose(serve_fhir, seed_dist, capsys, caplog):
    _, url = serve_fhir(_reject)
    code, out, err = run_cli(
        capsys,
        caplog,
        "publish",
        str(seed_dist),
        "--server",
        url,
        "--no-validate",
        "--single-transaction",
        "--verbose",
    )
    assert code == ExitCode.REJECTED_BY_SERVER
    assert out.count("rolled back") == _resource_count(seed_dist)
    assert "transaction rejected by the server (HTTP 422)" in err


def test_rejected_later_chunk_says_what_was_committed(serve_fhir, small_dist, capsys, caplog):
    posts = {"n": 0}

    def second_fails(request: Request) -> Response | None:
        if is_transaction(request):
            posts["n"] += 1
            if posts["n"] == 2:
                return _reject(request)
        return None

    _, url = serve_fhir(second_fails)
    code, _, err = run_cli(
        capsys, caplog, "publish", str(small_dist), "--server", url, "--no-validate", "--chunk-size", "5"
    )
    assert code == ExitCode.PARTIAL_SUCCESS
    assert "transaction (chunk 2 of " in err and ") rejected by the server (HTTP 422)" in err
    assert "1 earlier chunk committed, the rest not written" in err


def test_json_report_carries_the_summary(serve_fhir, small_dist, capsys, caplog):
    import json

    _, url = serve_fhir(_reject)
    code, out, _ = run_cli(
        capsys, caplog, "publish", str(small_dist), "--server", url, "--no-validate", "--format", "json"
    )
    assert code == ExitCode.REJECTED_BY_SERVER
    assert json.loads(out)["error"]["summary"].startswith("transaction rejected by the server (HTTP 422)")


# ------------------------------------------------------------------------------------ tokens
@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("abc\ndef", "contains a line break (character 4)"),
        ("abc\rdef", "contains a line break (character 4)"),
        ("abc def", "contains a space (character 4)"),
        ("abc\x01def", "contains the control character U+0001 (character 4)"),
        ("abcdéf", "contains the non-ASCII character U+00E9 (character 5)"),
    ],
)
def test_token_that_cannot_be_a_header_is_refused_up_front(
    serve_fhir, small_dist, capsys, caplog, monkeypatch, tmp_path, token, problem
):
    server, url = serve_fhir()
    monkeypatch.setenv("FHIR_TOKEN", token)
    code, out, err = run_cli(capsys, caplog, "publish", str(small_dist), "--server", url, "--no-validate")
    assert code == ExitCode.USAGE
    assert f"the bearer token from $FHIR_TOKEN {problem}" in err
    assert token not in out + err
    assert server.seen == []  # refused before any request, never retried, never blamed on the server
    monkeypatch.delenv("FHIR_TOKEN")
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n", encoding="utf-8")  # a trailing newline is fine, inner ones are not
    code, _, err = run_cli(
        capsys,
        caplog,
        "publish",
        str(small_dist),
        "--server",
        url,
        "--no-validate",
        "--token-file",
        str(token_file),
    )
    assert code == ExitCode.USAGE and problem in err


def test_token_file_with_trailing_newline_still_works(serve_fhir, small_dist, capsys, caplog, tmp_path):
    _, url = serve_fhir(auth_check=lambda r: r.headers.get("Authorization") == "Bearer good-token")
    token_file = tmp_path / "token"
    token_file.write_text("good-token\n", encoding="utf-8")
    code, _, err = run_cli(
        capsys,
        caplog,
        "publish",
        str(small_dist),
        "--server",
        url,
        "--no-validate",
        "--token-file",
        str(token_file),
    )
    assert code == ExitCode.OK, err


def test_smart_access_token_with_a_newline_is_an_auth_failure(
    serve_fhir, small_dist, tmp_path, capsys, caplog
):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key_file = tmp_path / "key.pem"
    key_file.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )

    def smart(request: Request) -> Response | None:
        if request.path.endswith("/.well-known/smart-configuration"):
            return fhir_response({"token_endpoint": request.host_url + "token"})
        if request.path == "/token":
            return fhir_response({"access_token": "a\nb", "expires_in": 300})
        return None

    server, url = serve_fhir(smart)
    code, _, err = run_cli(
        capsys,
        caplog,
        "publish",
        str(small_dist),
        "--server",
        url,
        "--no-validate",
        "--smart-key-file",
        str(key_file),
        "--smart-client-id",
        "app",
    )
    assert code == ExitCode.AUTH_FAILED
    assert "the access token from the token endpoint contains a line break" in err
    assert not any(p.startswith("/fhir/metadata") for _, p in server.seen)


# ------------------------------------------------------------------------------ publish input
def test_dist_file_nested_too_deep_or_with_duplicate_keys(small_dist, tmp_path, capsys, caplog):
    import shutil

    dist = tmp_path / "dist"
    shutil.copytree(small_dist, dist)
    victim = sorted((dist / "resources").glob("*.json"))[0]
    victim.write_text('{"resourceType":"Group","id":"a","x":' + "[" * 50_000 + "]" * 50_000 + "}")
    code, _, err = run_cli(
        capsys, caplog, "publish", str(dist), "--server", "http://127.0.0.1:9/fhir", "--no-validate"
    )
    assert code == ExitCode.INPUT_LIMIT and TRACEBACK not in err
    victim.write_text('{"resourceType":"Group","id":"a","id":"b"}')
    code, _, err = run_cli(
        capsys, caplog, "publish", str(dist), "--server", "http://127.0.0.1:9/fhir", "--no-validate"
    )
    assert code == ExitCode.INVALID_OUTPUT
    assert "duplicate JSON key at id" in err
