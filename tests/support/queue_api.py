"""A client of the gateway's queue API (/api on the operations port) for the tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import requests

from tests.support.serve import GatewayProcess

OPS_LISTENING = r"operations endpoint on http://127\.0\.0\.1:(\d+) \(([^)]*)\)"


@dataclass(frozen=True, slots=True)
class ApiClient:
    """Requests to http://127.0.0.1:<port>/api with a bearer token (None: without)."""

    port: int
    token: str | None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        sent = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {sent}"} if sent else {}
        return requests.request(method, self.root + path, headers=headers, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        """The JSON of a GET that must answer 200."""
        answer = self.call("GET", path, **kwargs)
        assert answer.status_code == 200, (answer.status_code, answer.text)
        return answer.json()


def api_of(gateway: GatewayProcess, token: str | None) -> ApiClient:
    """The client of a gateway started with http.port 0 (the port its log names)."""
    match = gateway.wait_for_log(OPS_LISTENING)
    assert re.search(r"/api\b", match.group(2)), match.group(0)
    return ApiClient(int(match.group(1)), token)
