"""The web console's HTTP side, without a browser: off unless configured, login with the API
token, session cookie attributes, CSRF on every POST, the Configuration page's sources and
masking, and readiness in words (tests/browser drives the same pages in Chromium)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sr2fhir.config import Config, load_config
from sr2fhir.errors import ConfigError
from sr2fhir.ops.console.app import build_console
from sr2fhir.ops.console.markup import h
from sr2fhir.ops.console.sessions import SESSION_IDLE, Sessions
from sr2fhir.ops.health import Check
from sr2fhir.ops.http import OpsServer
from sr2fhir.ops.queue_api import QueueApi
from sr2fhir.spool import open_spool
from tests.support.console import ConsoleClient

TOKEN = "console-test-token-1"


class FakeGateway:
    """Readiness as the test sets it; the queue API over a real (empty) spool."""

    def __init__(self, data_dir: Path) -> None:
        self.config = load_config(overrides={"spool.data_dir": str(data_dir)})
        self.spool = open_spool(data_dir)
        self.checks = [
            Check("scp", True, "listening on port(s) 11112"),
            Check("sink", False, "http://fhir.invalid/metadata: connection refused"),
        ]

    def alive(self) -> bool:
        return True

    def readiness(self) -> list[Check]:
        return self.checks

    def metrics(self) -> str:
        return ""

    def queue_api(self) -> QueueApi:
        return QueueApi(self.spool, self.config)


def console_config(tmp_path: Path, **overrides: object) -> Config:
    token_file = tmp_path / "api-token"
    token_file.write_text(TOKEN + "\n")
    settings = {
        "spool.data_dir": str(tmp_path / "data"),
        "http.console": True,
        "http.api_token_file": str(token_file),
        **overrides,
    }
    return load_config(overrides=settings)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[OpsServer]:
    config = console_config(tmp_path)
    source = FakeGateway(tmp_path / "data")
    ops = OpsServer("127.0.0.1", 0, source, console=build_console(config, source, TOKEN))
    ops.start()
    try:
        yield ops
    finally:
        ops.stop()


def test_the_console_is_off_unless_configured(tmp_path: Path) -> None:
    config = load_config(overrides={"spool.data_dir": str(tmp_path)})
    source = FakeGateway(tmp_path / "data")
    assert build_console(config, source, TOKEN) is None
    ops = OpsServer("127.0.0.1", 0, source)
    ops.start()
    try:
        client = ConsoleClient(ops.port)
        assert client.get("/console/login").status == 404
        assert client.post("/console/login", {"token": TOKEN}).status == 404
    finally:
        ops.stop()


def test_console_without_a_token_source_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"http.console is true but neither http.api_token_file"):
        load_config(overrides={"http.console": True})


def test_without_login_pages_redirect_to_the_login_and_actions_are_refused(
    server: OpsServer,
) -> None:
    client = ConsoleClient(server.port, follow=False)
    for path in ("/console/", "/console/config", "/console/jobs", "/console/jobs/1"):
        answer = client.get(path)
        assert answer.status == 303, path
        assert answer.headers["Location"].startswith("/console/login?next=/console")
    login_page = client.get("/console/login")
    assert login_page.status == 200 and "API token" in login_page.body
    assert "Readiness" not in login_page.body and "api-token" not in login_page.body
    for path in ("/console/logout", "/console/jobs/1/retry", "/console/jobs/action"):
        assert client.post(path, {"csrf": "x", "ids": "1"}).status == 403, path


def test_a_wrong_token_opens_no_session(server: OpsServer) -> None:
    client = ConsoleClient(server.port, follow=False)
    answer = client.login("not-the-token")
    assert answer.status == 401 and "Wrong token" in answer.body
    assert client.get("/console/").status == 303


def test_login_sets_a_session_cookie_that_scripts_and_other_sites_cannot_use(
    server: OpsServer,
) -> None:
    client = ConsoleClient(server.port, follow=False)
    answer = client.login(TOKEN)
    assert (answer.status, answer.headers["Location"]) == (303, "/console/")
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("sr2fhir_console=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/console"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain HTTP: the browser would never send it back
    page = client.get("/console/")
    assert page.status == 200 and "Overview" in page.body
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_behind_a_tls_proxy_the_session_cookie_is_secure(server: OpsServer) -> None:
    client = ConsoleClient(server.port, follow=False)
    csrf = client.csrf("/console/login")
    fields = {"csrf": csrf, "token": TOKEN}
    answer = client.post("/console/login", fields, X_Forwarded_Proto="https")
    assert answer.status == 303 and "; Secure" in answer.headers["Set-Cookie"]


def test_a_login_form_without_its_csrf_cookie_is_refused(server: OpsServer) -> None:
    client = ConsoleClient(server.port, follow=False)
    assert client.post("/console/login", {"csrf": "forged", "token": TOKEN}).status == 403


def test_every_post_needs_the_sessions_csrf_token_and_this_origin(server: OpsServer) -> None:
    client = ConsoleClient(server.port, follow=False)
    client.login(TOKEN)
    csrf = client.csrf()
    assert client.post("/console/logout", {}).status == 403
    assert client.post("/console/logout", {"csrf": csrf + "x"}).status == 403
    other = client.post("/console/logout", {"csrf": csrf}, Origin="http://evil.example")
    assert other.status == 403
    assert client.post("/console/logout", {"csrf": csrf}, Origin="null").status == 403
    cross_site = client.post("/console/logout", {"csrf": csrf}, Sec_Fetch_Site="cross-site")
    assert cross_site.status == 403
    assert client.get("/console/").status == 200  # still logged in
    assert client.post("/console/logout", {"csrf": csrf}).status == 303
    assert client.get("/console/").status == 303  # logged out


def test_after_login_only_console_pages_are_targets(server: OpsServer) -> None:
    client = ConsoleClient(server.port, follow=False)
    csrf = client.csrf("/console/login")
    fields = {"csrf": csrf, "token": TOKEN, "next": "//evil.example/console"}
    assert client.post("/console/login", fields).headers["Location"] == "/console/"


def test_a_session_ends_after_its_idle_time_and_at_logout() -> None:
    now = [1000.0]
    sessions = Sessions(TOKEN, clock=lambda: now[0])
    assert sessions.login("wrong") is None
    first, second = sessions.login(TOKEN), sessions.login(TOKEN)
    assert first and second and first != second
    now[0] += SESSION_IDLE - 1
    assert sessions.find(first) is not None  # used: its idle time starts again
    now[0] += SESSION_IDLE - 1
    assert sessions.find(first) is not None
    assert sessions.find(second) is None  # idle for longer than SESSION_IDLE
    sessions.logout(first)
    assert sessions.find(first) is None


def test_overview_says_what_fails_in_words(server: OpsServer) -> None:
    client = ConsoleClient(server.port)
    client.login(TOKEN)
    body = client.get("/console/").body
    assert "Not ready." in body
    assert "Cannot deliver: the destination does not answer" in body
    assert "http://fhir.invalid/metadata: connection refused" in body
    assert "Receiving: senders can connect" in body
    assert body.index("Cannot deliver") < body.index("Receiving")  # failures first


def test_configuration_names_each_values_source_and_masks_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = tmp_path / "sr2fhir.yaml"
    config_file.write_text(
        "fhir:\n  base_url: http://fhir.example/fhir\n  auth_kind: bearer\n"
        "  auth_token: very-secret-value\n  headers: {X-Api-Key: another-secret}\n"
    )
    token_file = tmp_path / "api-token"
    token_file.write_text(TOKEN)
    monkeypatch.setenv("SR2FHIR_WORKERS_COUNT", "3")
    monkeypatch.setenv("SR2FHIR_HTTP_CONSOLE", "true")
    monkeypatch.setenv("SR2FHIR_HTTP_API_TOKEN_FILE", str(token_file))
    config = load_config(config_file, overrides={"dicom.port": 4242})
    source = FakeGateway(tmp_path / "data")
    ops = OpsServer("127.0.0.1", 0, source, console=build_console(config, source, TOKEN))
    ops.start()
    try:
        client = ConsoleClient(ops.port)
        client.login(TOKEN)
        body = client.get("/console/config").body
    finally:
        ops.stop()
    assert "very-secret-value" not in body and "another-secret" not in body
    assert TOKEN not in body
    assert "<code>***</code>" in body and "X-Api-Key" in body
    rows = {
        "base_url": f"file {config_file}",
        "count": "env SR2FHIR_WORKERS_COUNT",
        "port": "flag --port",
        "ae_title": "default",
    }
    for key, source_words in rows.items():
        row = body.split(f"<code>{key}</code>", 1)[1].split("</tr>", 1)[0]
        assert f'<td class="source">{source_words}</td>' in row, key


def test_assets_are_served_by_the_gateway_without_login(server: OpsServer) -> None:
    client = ConsoleClient(server.port)
    css = client.get("/console/static/console.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
    script = client.get("/console/static/console.js")
    assert script.status == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert client.get("/console/static/../app.py").status == 404


def test_the_request_log_leaves_out_query_strings(
    server: OpsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sr2fhir.ops.http")
    ConsoleClient(server.port).get("/console/jobs?q=PATIENT-ID-12345")
    assert "/console/jobs" in caplog.text and "PATIENT-ID-12345" not in caplog.text


def test_markup_escapes_data_but_not_markup() -> None:
    cell = h("td", {"title": '"><script>'}, "<script>alert(1)</script>", h("b", None, "x"))
    assert cell == (
        '<td title="&quot;&gt;&lt;script&gt;">&lt;script&gt;alert(1)&lt;/script&gt;<b>x</b></td>'
    )
