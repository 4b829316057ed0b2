"""The console's routes under /console: who may see what, CSRF, and which page answers.

GET pages need a session (else a redirect to the login page, which shows nothing of the
queue); every POST needs a session and its CSRF token (else 403), the login form its own
double-submitted token. Static assets need no login: they hold no data.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable
from importlib import resources
from typing import Any, Protocol
from urllib.parse import quote

from sr2fhir.config import Config
from sr2fhir.ops.console import job_page, jobs_page, overview
from sr2fhir.ops.console import sessions as auth
from sr2fhir.ops.console.config_page import config_content
from sr2fhir.ops.console.layout import document, page
from sr2fhir.ops.console.markup import h
from sr2fhir.ops.console.readiness import readiness_list
from sr2fhir.ops.console.sessions import Session, Sessions
from sr2fhir.ops.console.web import Request, Response, html_page, plain, redirect
from sr2fhir.ops.health import Check
from sr2fhir.ops.queue_api import QueueApi, Unavailable

log = logging.getLogger(__name__)

PREFIX = "/console"
REFRESH = 10  # seconds: the Overview reloads itself (console.js); Jobs do not (forms)
ASSETS = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
JOB_PATH = re.compile(r"^/console/jobs/(\d{1,18})(/bundle\.json)?$")
SAFE_NEXT = re.compile(r"^/console(/[A-Za-z0-9_./?=&%-]*)?$")


class ConsoleSource(Protocol):
    """What the console reads from the running gateway."""

    def readiness(self) -> list[Check]: ...

    def queue_api(self) -> QueueApi: ...


Page = Callable[[Request, Session], Response]


class Console:
    """Answers every request under /console (http.console: true)."""

    def __init__(self, config: Config, source: ConsoleSource, sessions: Sessions) -> None:
        self.config = config
        self.source = source
        self.sessions = sessions
        self._get: dict[str, Page] = {
            "/console/": self.overview,
            "/console/jobs": self.jobs,
            "/console/config": self.configuration,
        }
        self._post: dict[str, Page] = {
            "/console/logout": self.logout,
            "/console/jobs/action": self.job_action,
        }

    def handle(self, request: Request) -> Response:
        path = request.path
        if path == PREFIX:
            return redirect(PREFIX + "/")
        if path.startswith(PREFIX + "/static/") and request.method == "GET":
            return self.asset(path.rsplit("/", 1)[1])
        if path == PREFIX + "/login":
            return self.login_form(request) if request.method == "GET" else self.login(request)
        session = self.sessions.find(request.cookies.get(auth.COOKIE))
        if request.method == "POST":
            return self._post_action(request, session)
        if session is None:
            return redirect(f"{PREFIX}/login?next={quote(request.target, safe='/')}")
        page_of = self._get.get(path)
        if page_of is not None:
            return page_of(request, session)
        job = JOB_PATH.match(path)
        if job is not None:
            if job.group(2):
                return self.bundle_download(int(job.group(1)), session)
            return self.job(int(job.group(1)), session)
        return self.not_found(session)

    def _post_action(self, request: Request, session: Session | None) -> Response:
        if session is None:
            return plain(403, "log in first")
        if not request.same_origin or not auth.same(request.field("csrf"), session.csrf):
            log.warning("console: POST %s refused: CSRF token missing or wrong", request.path)
            return plain(403, "refused: the form is stale or did not come from this console")
        action = self._post.get(request.path)
        if action is None:
            return plain(404, "no such action")
        return action(request, session)

    # ------------------------------------------------------------ login

    def login_form(self, request: Request, failed: bool = False) -> Response:
        token = request.cookies.get(auth.LOGIN_COOKIE) or secrets.token_urlsafe(24)
        next_page = request.arg("next") or request.field("next")
        form = h(
            "form",
            {"method": "post", "action": f"{PREFIX}/login", "class": "login"},
            h("input", {"type": "hidden", "name": "csrf", "value": token}),
            h("input", {"type": "hidden", "name": "next", "value": next_page}),
            h("label", {"for": "token"}, "API token"),
            h(
                "input",
                {
                    "type": "password",
                    "id": "token",
                    "name": "token",
                    "required": True,
                    "autocomplete": "current-password",
                    "autofocus": True,
                },
            ),
            h("button", {"type": "submit"}, "Log in"),
        )
        error = h("p", {"class": "error", "role": "alert"}, "Wrong token.") if failed else None
        body = h(
            "main",
            {"class": "login-box"},
            h("h1", None, "sr2fhir console"),
            error,
            form,
            h(
                "p",
                {"class": "hint"},
                "The token is the one of http.api_token_file or "
                "http.api_token_env in the gateway's configuration.",
            ),
        )
        cookie = auth.cookie_header(auth.LOGIN_COOKIE, token, secure=request.tls)
        return html_page(
            document("Log in", body), 401 if failed else 200, (("Set-Cookie", cookie),)
        )

    def login(self, request: Request) -> Response:
        expected = request.cookies.get(auth.LOGIN_COOKIE, "")
        if (
            not expected
            or not request.same_origin
            or not auth.same(request.field("csrf"), expected)
        ):
            return plain(403, "refused: reload the login page and try again")
        session_id = self.sessions.login(request.field("token"))
        if session_id is None:
            log.warning("console: login refused (wrong or no API token)")
            return self.login_form(request, failed=True)
        log.info("console: login")
        next_page = request.field("next")
        target = next_page if SAFE_NEXT.match(next_page) else PREFIX + "/"
        cookie = auth.cookie_header(auth.COOKIE, session_id, secure=request.tls)
        return redirect(target, (("Set-Cookie", cookie),))

    def logout(self, request: Request, session: Session) -> Response:
        self.sessions.logout(request.cookies.get(auth.COOKIE))
        gone = auth.cookie_header(auth.COOKIE, "", secure=request.tls, max_age=0)
        return redirect(f"{PREFIX}/login", (("Set-Cookie", gone),))

    # ------------------------------------------------------------ pages

    def render(
        self, title: str, active: str, session: Session, *content: object, refresh: int = 0
    ) -> Response:
        messages, session.flash = session.flash, []
        return html_page(page(title, active, session.csrf, messages, *content, refresh=refresh))

    def overview(self, request: Request, session: Session) -> Response:
        stats = self.source.queue_api().stats()
        received, delivered = stats.received_per_minute, stats.delivered_per_minute
        content = [
            readiness_list(self.source.readiness()),
            overview.state_cards(stats.counts, sum(received[-60:]), sum(received)),
            h("h2", None, "Received and delivered"),
            overview.traffic_charts(received, delivered),
            h("h2", None, "Delivery latency"),
            overview.latency_chart(
                stats.latency_p50_1h,
                stats.latency_p95_1h,
                stats.latency_p50_24h,
                stats.latency_p95_24h,
            ),
            h("h2", None, "Per calling AE"),
            overview.per_ae_table(stats.per_calling_ae),
        ]
        return self.render("Overview", "overview", session, *content, refresh=REFRESH)

    def jobs(self, request: Request, session: Session) -> Response:
        filters = jobs_page.Filters.of(request.query)
        page_of_jobs = self.source.queue_api().jobs(filters.query(), with_phi=True)
        content = jobs_page.jobs_content(filters, page_of_jobs, session.csrf)
        return self.render("Jobs", "jobs", session, *content)

    def job(self, job_id: int, session: Session) -> Response:
        queue = self.source.queue_api()
        detail = queue.job(job_id, with_phi=True)
        if detail is None:
            return self.not_found(session)
        bundle, missing = self._bundle(queue, job_id)
        base_url = self.config.fhir.base_url
        content = job_page.job_content(detail, bundle, missing, session.csrf, base_url)
        return self.render(f"Job #{job_id}", "jobs", session, *content)

    @staticmethod
    def _bundle(queue: QueueApi, job_id: int) -> tuple[dict[str, Any] | None, str]:
        """(the Bundle the job sends, or None and why not)."""
        try:
            bundle = queue.bundle(job_id)
        except Unavailable as exc:
            return None, f"No Bundle: {exc}."
        return bundle, "" if bundle is not None else "No Bundle: no such job."

    def bundle_download(self, job_id: int, session: Session) -> Response:
        bundle, missing = self._bundle(self.source.queue_api(), job_id)
        if bundle is None:
            return plain(404, missing)
        name = f"job-{job_id}-bundle.json"
        return Response(
            200,
            json.dumps(bundle, indent=1).encode("utf-8"),
            "application/fhir+json",
            (("Content-Disposition", f'attachment; filename="{name}"'),),
        )

    def job_action(self, request: Request, session: Session) -> Response:
        """Retry or discard: first a confirmation page, then (confirm=yes) the action."""
        action = request.field("action")
        ids = sorted({int(i) for i in request.form.get("ids", []) if i.isdigit()})
        back = request.field("back")
        back = back if SAFE_NEXT.match(back) else PREFIX + "/jobs"
        if action not in jobs_page.ACTIONS or not ids:
            session.flash.append("Select at least one job, then Retry or Discard.")
            return redirect(back)
        if request.field("confirm") != "yes":
            content = jobs_page.confirm_content(action, ids, back, session.csrf)
            return self.render(f"{action.title()} {len(ids)} job(s)?", "jobs", session, *content)
        queue = self.source.queue_api()
        report = queue.retry(ids) if action == jobs_page.Action.RETRY else queue.discard(ids)
        log.info("console: %s of job(s) %s: done %s", action, ids, list(report.done))
        session.flash.append(jobs_page.report_text(action, report))
        return redirect(back)

    def configuration(self, request: Request, session: Session) -> Response:
        return self.render("Configuration", "config", session, *config_content(self.config))

    def not_found(self, session: Session) -> Response:
        answer = self.render("Not found", "", session, h("p", None, "No such page."))
        return Response(404, answer.body, answer.content_type, answer.headers)

    def asset(self, name: str) -> Response:
        content_type = ASSETS.get(name)
        if content_type is None:
            return plain(404, "not found")
        data = resources.files("sr2fhir.ops.console").joinpath("static").joinpath(name).read_bytes()
        return Response(200, data, content_type, (("Cache-Control", "max-age=3600"),))


def build_console(config: Config, source: ConsoleSource, token: str | None) -> Console | None:
    """The console when http.console is on and a token is configured (the loader refuses
    http.console without a token source; preflight, a source that gives none)."""
    if not config.http.console or not token:
        return None
    return Console(config, source, Sessions(token))
