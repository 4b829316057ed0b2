"""The console in Chromium against a real `sr2fhir serve`: logging in, the Overview's
readiness in words, the Configuration page, nothing shown and nothing done without login,
CSRF, and every page usable at 1280x800 and on a 390 px wide phone (no sideways scroll)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.browser import NARROW, WIDE, screenshot, scrolls_sideways
from tests.support.console import console_env, console_port
from tests.support.serve import GatewayProcess, running_gateway

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.integration
TOKEN = "browser-test-token"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    with running_gateway(tmp_path / "data", env=console_env(tmp_path, TOKEN)) as running:
        yield running


def log_in(page: Page, base: str, token: str = TOKEN) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/console/")
    expect(page).to_have_url(f"{base}/console/login?next=/console/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_an_operator_logs_in_and_reads_readiness_and_configuration(
    browser: Browser, gateway: GatewayProcess
) -> None:
    from playwright.sync_api import expect

    base = f"http://127.0.0.1:{console_port(gateway)}"
    page = browser.new_page(viewport=WIDE)
    log_in(page, base)
    expect(page.locator(".readiness .ready")).to_have_text("Ready: taking and delivering reports.")
    expect(page.locator("[data-check=scp]")).to_contain_text("Receiving: senders can connect")
    expect(page.locator("[data-check=sink]")).to_contain_text("outbox folder writable")

    page.get_by_role("link", name="Configuration").click()
    row = page.locator("#section-http tr", has=page.locator("code", has_text="api_token_file"))
    expect(row.locator("td.source")).to_have_text("env SR2FHIR_HTTP_API_TOKEN_FILE")
    port_row = page.locator("#section-dicom tr", has=page.get_by_text("port", exact=True))
    expect(port_row.locator("td.source")).to_have_text("flag --port")
    expect(page.locator("body")).not_to_contain_text(TOKEN)
    screenshot(page, "console-configuration", full_page=False)

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    page.goto(f"{base}/console/config")
    expect(page).to_have_url(f"{base}/console/login?next=/console/config")


def test_every_page_fits_a_phone_without_sideways_scrolling(
    browser: Browser, gateway: GatewayProcess
) -> None:
    base = f"http://127.0.0.1:{console_port(gateway)}"
    for viewport in (WIDE, NARROW):
        page = browser.new_page(viewport=viewport)
        page.goto(f"{base}/console/login")
        assert not scrolls_sideways(page), f"login at {viewport}"
        log_in(page, base)
        for path in ("/console/", "/console/config"):
            page.goto(base + path)
            assert not scrolls_sideways(page), f"{path} at {viewport}"
        page.close()


def test_without_login_nothing_is_shown_and_no_action_runs(
    browser: Browser, gateway: GatewayProcess
) -> None:
    from playwright.sync_api import expect

    base = f"http://127.0.0.1:{console_port(gateway)}"
    stranger = browser.new_context(viewport=WIDE).new_page()
    stranger.goto(f"{base}/console/config")
    expect(stranger).to_have_url(f"{base}/console/login?next=/console/config")
    expect(stranger.locator("body")).not_to_contain_text("Readiness")
    expect(stranger.locator("body")).not_to_contain_text("SR2FHIR_HTTP_API_TOKEN_FILE")
    for path in ("/console/logout", "/console/jobs/1/retry", "/console/jobs/action"):
        answer = stranger.request.post(base + path, form={"csrf": "x", "ids": "1"})
        assert answer.status == 403, path

    operator = browser.new_context(viewport=WIDE).new_page()
    log_in(operator, base)
    # a stale or forged form: its CSRF token is not the session's
    operator.locator("header input[name=csrf]").evaluate("field => { field.value = 'forged'; }")
    operator.get_by_role("button", name="Log out").click()
    expect(operator.locator("body")).to_contain_text("refused")
    operator.goto(f"{base}/console/")
    expect(operator.get_by_role("heading", name="Overview")).to_be_visible()  # still in
