"""The queue API (sr2fhir.ops.queue_api) on both job stores, and its HTTP routes on the
operations endpoint: authentication, 400s, paging, actions, stats, the OpenAPI file."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sr2fhir.cli import main
from sr2fhir.config import Config, HttpConfig
from sr2fhir.delivery import Receipt
from sr2fhir.errors import ConfigError, PermanentDeliveryError
from sr2fhir.mapping import MappingOptions
from sr2fhir.ops.api_routes import ROUTES
from sr2fhir.ops.http import MAX_BODY, OpsServer, read_api_token
from sr2fhir.ops.queue_api import JobQuery, QueueApi, percentile
from sr2fhir.spool import InstanceInfo, LifecycleUpdate, Spool
from sr2fhir.worker import Worker, make_converter
from tests.support.fake_sinks import Delivery, FakeSink
from tests.support.paths import REPO
from tests.support.postgres import set_times, write_config
from tests.support.sr.part10 import to_bytes
from tests.support.sr.reports import planar_report

TOKEN = "t0ken-" + "x" * 26
SR = "1.2.840.10008.5.1.4.1.1.88.33"


class Refuse(FakeSink):
    """A sink that refuses every Bundle with a 400 and an OperationOutcome."""

    def answer(self, delivery: Delivery) -> Receipt:
        outcome: dict[str, object] = {"resourceType": "OperationOutcome", "issue": []}
        raise PermanentDeliveryError("transaction: HTTP 400", outcome, 400)


class Source:
    def alive(self) -> bool:
        return True

    def readiness(self) -> list[Any]:
        return []

    def metrics(self) -> str:
        return ""


def failed_job(spool: Spool) -> int:
    ds = planar_report()
    info = InstanceInfo(str(ds.SOPClassUID), str(ds.SOPInstanceUID), "CT1")
    job_id = spool.receive(to_bytes(ds), info)
    assert Worker(spool, make_converter(MappingOptions()), Refuse(), "n:1/w").run_once()
    return job_id


@pytest.fixture
def api(any_spool: Spool, spool_config: Config) -> QueueApi:
    return QueueApi(any_spool, spool_config)


@pytest.fixture
def server(api: QueueApi) -> Iterator[OpsServer]:
    ops = OpsServer("127.0.0.1", 0, Source(), lambda: api, TOKEN)
    ops.start()
    yield ops
    ops.stop()


def call(
    port: int, method: str, path: str, body: bytes | None = None, token: str | None = TOKEN
) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", body, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---------------------------------------------------------------- QueueApi


def test_job_detail_shows_phi_only_with_phi(api: QueueApi) -> None:
    job_id = failed_job(api.spool)
    with_phi = api.job(job_id, with_phi=True)
    without = api.job(job_id, with_phi=False)
    assert with_phi is not None and without is not None
    assert with_phi.header["patient_id"] == str(planar_report().PatientID)
    assert "patient_id" not in without.header and "patient_name" not in without.header
    assert without.header["study_instance_uid"] == str(planar_report().StudyInstanceUID)
    assert without.outcome == {"resourceType": "OperationOutcome", "issue": []}
    assert [a.http_status for a in without.attempts] == [400]
    assert "PHI" not in json.dumps(without.to_json())  # the report's patient is PHI-...


def test_a_job_not_mapped_yet_shows_header_facts_from_its_bytes(api: QueueApi) -> None:
    ds = planar_report()
    job_id = api.spool.receive(to_bytes(ds), InstanceInfo(SR, str(ds.SOPInstanceUID), "CT1"))
    detail = api.job(job_id, with_phi=False)
    assert detail is not None and detail.header["modality"] == "SR" and detail.attempts == ()


def test_pages_go_back_with_before_id(api: QueueApi) -> None:
    ids = [api.spool.receive(b"x", InstanceInfo(SR, f"1.2.9.{n}", "CT1")) for n in range(5)]
    first = api.jobs(JobQuery(limit=2), with_phi=False)
    second = api.jobs(JobQuery(limit=2, before_id=first.next_before_id), with_phi=False)
    last = api.jobs(JobQuery(limit=2, before_id=second.next_before_id), with_phi=False)
    seen = [j.id for page in (first, second, last) for j in page.jobs]
    assert seen == ids[::-1] and last.next_before_id is None and first.total == 5


def test_retry_and_discard_report_what_they_skipped(api: QueueApi) -> None:
    failed = failed_job(api.spool)
    ready = api.spool.receive(b"x", InstanceInfo(SR, "1.2.9.9", "CT1"))
    report = api.retry([failed, ready, 999])
    assert report.done == (failed,)
    assert report.skipped == {ready: "READY, not FAILED", 999: "no such job"}
    assert report.to_json()["skipped"] == {str(ready): "READY, not FAILED", "999": "no such job"}


def test_stats_bucket_per_minute_and_give_latency_percentiles(
    api: QueueApi, spool_config: Config
) -> None:
    now = 1_800_000_000.0  # a minute boundary + 0
    ids = [api.spool.receive(b"x", InstanceInfo(SR, f"1.2.8.{n}", "CT1")) for n in range(4)]
    for n in range(3):
        job = api.spool.claim("n:1/w")
        assert job is not None
        api.spool.finish_report(job, LifecycleUpdate(job.sop_instance_uid))
        set_times(spool_config, job.id, now - 120 - n, now - 120 - n + 10 * (n + 1))
    set_times(spool_config, ids[3], now - 2 * 86400, now - 2 * 86400)  # outside the day
    stats = api.stats(now=now)
    assert len(stats.received_per_minute) == len(stats.delivered_per_minute) == 1440
    assert stats.series_end == now + 60
    # the last bucket is [now, now + 60): received at now - 120 falls 3 from the end
    assert stats.received_per_minute[-4:] == (2, 1, 0, 0) and sum(stats.received_per_minute) == 3
    assert sum(stats.delivered_per_minute) == 3
    assert (stats.latency_p50_1h, stats.latency_p95_1h) == (20.0, 30.0)
    assert stats.counts == {"READY": 1, "LOCKED": 0, "DONE": 3, "FAILED": 0, "HELD": 0}
    assert stats.per_calling_ae == {"CT1": {"DONE": 3, "READY": 1}}


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0


# ---------------------------------------------------------------- HTTP


def test_every_api_request_needs_the_token(server: OpsServer) -> None:
    for token in (None, "", TOKEN[:-1] + "y", TOKEN + "y"):
        status, body = call(server.port, "GET", "/api/jobs", token=token)
        assert (status, body) == (401, {"error": "missing or wrong bearer token"})
    assert call(server.port, "GET", "/api/jobs")[0] == 200


def test_without_a_token_the_api_is_not_there(api: QueueApi) -> None:
    ops = OpsServer("127.0.0.1", 0, Source(), lambda: api, None)
    ops.start()
    try:
        assert call(ops.port, "GET", "/api/jobs")[0] == 404
        assert call(ops.port, "POST", "/api/jobs/retry", b'{"ids": [1]}')[0] == 404
        assert call(ops.port, "GET", "/healthz", token=None)[0] == 200
    finally:
        ops.stop()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("GET", "/api/jobs/abc", None, 400, "not a job id: 'abc'"),
        ("GET", "/api/jobs/0", None, 400, "not a job id: '0'"),
        (
            "GET",
            "/api/jobs?state=nope",
            None,
            400,
            "state must be one of READY, LOCKED, DONE, FAILED, HELD, not 'nope'",
        ),
        ("GET", "/api/jobs?limit=0", None, 400, "limit must be between 1 and 1000, not 0"),
        ("GET", "/api/jobs?limit=x", None, 400, "limit must be a whole number, not 'x'"),
        (
            "GET",
            "/api/jobs?since=yesterday",
            None,
            400,
            "since must be epoch seconds or an ISO-8601 time, not 'yesterday'",
        ),
        (
            "GET",
            "/api/jobs?sort=id",
            None,
            400,
            "unknown parameter 'sort' (known: ae, before_id, limit, q, since, state)",
        ),
        ("GET", "/api/jobs?q=a&q=b", None, 400, "parameter q given 2 times"),
        ("GET", "/api/jobs/999", None, 404, "no job 999"),
        ("GET", "/api/nothing", None, 404, "no such API path: /api/nothing"),
        ("GET", "/api/jobs/retry", None, 405, "GET not allowed on /api/jobs/retry (only POST)"),
        (
            "POST",
            "/api/jobs/retry",
            b"[1]",
            400,
            'the body must be {"ids": [job ids]} with at least one id',
        ),
        ("POST", "/api/jobs/retry", b"{", 400, 'the body is not JSON: send {"ids": [job ids]}'),
        ("POST", "/api/jobs/discard", b'{"ids": ["1"]}', 400, 'not a job id: "1"'),
        ("POST", "/api/jobs/discard", b'{"ids": [true]}', 400, "not a job id: true"),
        ("POST", "/api/jobs/999/retry", None, 404, "job 999: no such job"),
    ],
)
def test_bad_requests_get_one_line(
    server: OpsServer, method: str, path: str, body: bytes | None, status: int, error: str
) -> None:
    assert call(server.port, method, path, body) == (status, {"error": error})


def test_a_body_over_the_cap_is_refused_unread(server: OpsServer) -> None:
    body = b'{"ids": [' + b"1," * MAX_BODY + b"1]}"
    status, answer = call(server.port, "POST", "/api/jobs/retry", body)
    assert status == 413 and answer["error"].endswith(f"more than {MAX_BODY}")


def test_list_show_retry_discard_over_http(server: OpsServer, api: QueueApi) -> None:
    failed = failed_job(api.spool)
    status, page = call(server.port, "GET", "/api/jobs?state=failed&limit=10")
    assert status == 200 and [j["id"] for j in page["jobs"]] == [failed] and page["total"] == 1
    assert page["jobs"][0]["received_at"].endswith("Z")
    status, detail = call(server.port, "GET", f"/api/jobs/{failed}")
    assert status == 200 and detail["header"]["patient_id"] == str(planar_report().PatientID)
    assert detail["attempts"][0]["http_status"] == 400
    status, bundle = call(server.port, "GET", f"/api/jobs/{failed}/bundle")
    assert status == 200 and bundle["resourceType"] == "Bundle"
    assert call(server.port, "POST", "/api/jobs/discard", b'{"ids": [%d, 999]}' % failed) == (
        200,
        {"done": [failed], "skipped": {"999": "no such job"}},
    )
    assert call(server.port, "GET", f"/api/jobs/{failed}")[0] == 404
    status, stats = call(server.port, "GET", "/api/stats")
    assert status == 200 and len(stats["received_per_minute"]) == 1440


def test_the_bundle_of_a_delivered_job_is_gone(server: OpsServer, api: QueueApi) -> None:
    job_id = api.spool.receive(b"x", InstanceInfo(SR, "1.2.7.1", "CT1"))
    job = api.spool.claim("n:1/w")
    assert job is not None
    api.spool.finish_report(job, LifecycleUpdate(job.sop_instance_uid))
    status, body = call(server.port, "GET", f"/api/jobs/{job_id}/bundle")
    assert (status, body) == (409, {"error": f"job {job_id} is DONE: its received bytes are gone"})


def test_every_route_is_in_the_openapi_file_and_back() -> None:
    document = yaml.safe_load((REPO / "docs" / "api" / "openapi.yaml").read_text())
    assert document["openapi"].startswith("3.1")
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    }
    assert documented == {(method, path) for method, path, _ in ROUTES}


# ---------------------------------------------------------------- token and CLI


def test_a_missing_token_file_or_variable_is_a_config_error_naming_the_key(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match=r"^http\.api_token_file: cannot read .*nope"):
        read_api_token(HttpConfig(api_token_file=str(tmp_path / "nope")))
    with pytest.raises(ConfigError, match=r"^http\.api_token_env: the environment variable X_"):
        read_api_token(HttpConfig(api_token_env="X_SR2FHIR_UNSET"))
    (tmp_path / "t").write_text(" file \n")
    both = HttpConfig(api_token_file=str(tmp_path / "t"), api_token_env="X_SR2FHIR_UNSET")
    assert read_api_token(both) == "file" and read_api_token(HttpConfig()) is None


def test_check_config_names_the_api_token_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / "c.yaml"
    env_file.write_text(f"http:\n  api_token_file: {tmp_path / 'missing'}\n")
    assert main(["check-config", "--config", str(env_file), "--data-dir", str(tmp_path)]) == 2
    assert "http.api_token_file: cannot read" in capsys.readouterr().err


def queue(config: Config, *args: str) -> int:
    path = write_config(config.spool.path.parent / "sr2fhir.yaml", config)
    return main(["queue", "--config", str(path), *args])


def test_queue_discard_asks_or_takes_yes(
    api: QueueApi, spool_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = failed_job(api.spool)
    ready = api.spool.receive(b"x", InstanceInfo(SR, "1.2.6.1", "CT1"))
    assert queue(spool_config, "discard", "--all-failed") == 2  # no terminal to ask on
    assert "add --yes" in capsys.readouterr().err
    assert api.spool.get(failed) is not None
    assert queue(spool_config, "discard", str(failed), str(ready), "--yes") == 1
    out = capsys.readouterr().out
    assert out.startswith("1 FAILED job(s) discarded (")
    assert f"1 skipped (job {ready}: READY, not FAILED)" in out
    assert api.spool.get(failed) is None and api.spool.get(ready) is not None


def test_queue_discard_by_age(
    api: QueueApi, spool_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = failed_job(api.spool), failed_job(api.spool)
    set_times(spool_config, old, 0.0, 1_000.0)
    assert queue(spool_config, "discard", "--failed-older-than", "7", "--yes") == 0
    assert capsys.readouterr().out.startswith("1 FAILED job(s) discarded")
    assert api.spool.get(old) is None and api.spool.get(new) is not None
    assert queue(spool_config, "discard", "--failed-older-than", "7", "--yes") == 0
    assert "no job to discard" in capsys.readouterr().out


def test_queue_discard_asks_on_a_terminal(
    api: QueueApi, spool_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = failed_job(api.spool)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert queue(spool_config, "discard", str(failed)) == 2
    assert api.spool.get(failed) is not None
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert queue(spool_config, "discard", str(failed)) == 0
    assert api.spool.get(failed) is None


def test_queue_show_lists_attempts_and_hides_phi_unless_asked(
    api: QueueApi, spool_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = failed_job(api.spool)
    assert queue(spool_config, "show", str(failed)) == 0
    out = capsys.readouterr().out
    assert "attempt 1:" in out and " 400 delivery refused" in out
    assert str(planar_report().PatientID) not in out
    assert queue(spool_config, "show", str(failed), "--with-phi") == 0
    assert str(planar_report().PatientID) in capsys.readouterr().out
