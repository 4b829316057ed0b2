"""The console's Jobs in Chromium against a real `sr2fhir serve` delivering to HAPI FHIR R5
(through tests/support/fhir_gate.py, which spoils transactions until told not to): reports
sent with dcmtk storescu appear, a failed job shows the server's OperationOutcome, a retry
turns it delivered with links to its resources, a discard forgets one, PHI is searchable
only after login, and the pages fit a phone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from tests.integration.fhir_peer import FAST_RETRIES, fhir_base, unique_report
from tests.support.browser import NARROW, WIDE, screenshot, scrolls_sideways
from tests.support.console import console_env, console_port
from tests.support.dcmtk import storescu
from tests.support.fhir_gate import SPOILED_STATUS, FhirGate, running_fhir_gate
from tests.support.processes import wait_until
from tests.support.serve import GatewayProcess, running_gateway
from tests.support.sr.part10 import write_datasets
from tests.support.sr.reports import planar_report

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.integration
TOKEN = "browser-jobs-token"


@pytest.fixture
def gate() -> Iterator[FhirGate]:
    with running_fhir_gate(fhir_base()) as running:
        running.spoil = True  # every transaction is refused by HAPI until the test says
        yield running


@pytest.fixture
def gateway(tmp_path: Path, gate: FhirGate) -> Iterator[GatewayProcess]:
    env = {
        **console_env(tmp_path, TOKEN),
        **FAST_RETRIES,
        "SR2FHIR_DELIVERY_SINK": "fhir",
        "SR2FHIR_FHIR_BASE_URL": gate.base,
    }
    with running_gateway(tmp_path / "data", env=env) as running:
        yield running


def log_in(page: Page, base: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/console/login")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def rows_in(page: Page, url: str, state: str, count: int) -> bool:
    """Reload the Jobs page at `url`; True once it lists `count` jobs in `state`."""
    page.goto(url)
    return page.locator(f"tr[data-state={state}]").count() >= count


def test_failed_jobs_show_the_outcome_then_retry_delivers_and_discard_forgets(
    browser: Browser, gateway: GatewayProcess, gate: FhirGate, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    patient_id = f"PHI-CONSOLE-{uuid.uuid4().hex[:10]}"
    study = f"2.25.{uuid.uuid4().int}"
    reports = [unique_report(planar_report, patient_id, study) for _ in range(2)]
    uids = [str(ds.SOPInstanceUID) for ds in reports]
    base = f"http://127.0.0.1:{console_port(gateway)}"
    page = browser.new_page(viewport=WIDE)
    log_in(page, base)

    sent = storescu(gateway.port, write_datasets(tmp_path / "in", reports))
    assert sent.returncode == 0, sent.stderr
    jobs = f"{base}/console/jobs"
    wait_until(lambda: rows_in(page, jobs, "FAILED", 2), 120, "two FAILED jobs listed")
    for uid in uids:
        expect(page.locator("td.uid", has_text=uid)).to_be_visible()
    screenshot(page, "console-jobs")

    # a failed job: the server's own OperationOutcome, as a list
    first = page.locator("tr", has=page.locator("td.uid", has_text=uids[0]))
    first.get_by_role("link").click()
    expect(page.locator("#failure ul.issues li").first).to_be_visible()
    expect(page.locator("#failure")).to_contain_text(SPOILED_STATUS)
    expect(page.locator("#report-facts")).to_contain_text(patient_id)  # logged in: PHI shown
    screenshot(page, "console-job-failed")
    job_url = page.url

    # retry it with the server accepting again: it turns delivered, with its resources
    gate.spoil = False
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("heading", name="Retry 1 job(s)?")).to_be_visible()
    page.get_by_role("button", name="Retry 1 job(s)").click()
    expect(page.locator(".flash")).to_contain_text("Retried #")

    def delivered() -> bool:
        page.goto(job_url)
        return page.locator(".state-DONE").count() > 0

    wait_until(delivered, 120, "the retried job to be delivered")
    link = page.locator("#delivered a").first
    expect(link).to_be_visible()
    answer = requests.get(str(link.get_attribute("href")), timeout=60)
    assert answer.status_code == 200, answer.text[:500]
    screenshot(page, "console-job-delivered")

    # discard the other from the list, through its confirmation page
    page.goto(f"{jobs}?state=FAILED")
    other = page.locator("tr", has=page.locator("td.uid", has_text=uids[1]))
    other.get_by_role("checkbox").check()
    page.get_by_role("button", name="Discard selected").click()
    expect(page.get_by_role("heading", name="Discard 1 job(s)?")).to_be_visible()
    screenshot(page, "console-confirm-discard")
    page.get_by_role("button", name="Discard 1 job(s)").click()
    expect(page.locator(".flash")).to_contain_text("Discarded #")
    expect(page.locator("td.uid", has_text=uids[1])).to_have_count(0)

    # search by Patient ID: for this operator, yes; for someone not logged in, nothing
    page.goto(f"{jobs}?q={patient_id}")
    expect(page.locator("td.uid", has_text=uids[0])).to_be_visible()
    stranger = browser.new_context().new_page()
    stranger.goto(f"{jobs}?q={patient_id}")
    expect(stranger.get_by_label("API token")).to_be_visible()
    assert patient_id not in stranger.locator("body").inner_text()  # (only in its own URL)
    assert uids[0] not in stranger.content() and "TESTSCU" not in stranger.content()

    # the overview counts what happened
    page.goto(f"{base}/console/")
    expect(page.locator("[data-state=DONE] .n")).to_have_text("1")
    screenshot(page, "console-overview")

    narrow = browser.new_page(viewport=NARROW)
    log_in(narrow, base)
    for path in ("/console/", "/console/jobs", job_url.removeprefix(base)):
        narrow.goto(base + path)
        assert not scrolls_sideways(narrow), path
    narrow.goto(f"{jobs}")
    screenshot(narrow, "console-jobs-phone")
