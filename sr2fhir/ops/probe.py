"""`python -m sr2fhir.ops.probe [--config FILE] healthz|readyz`: the container HEALTHCHECK.

Exits 0 only if the gateway's endpoint answers 200. Light on purpose: it reads only
http.host and http.port (file, then SR2FHIR_HTTP_HOST / SR2FHIR_HTTP_PORT, the same
precedence as the gateway) and imports neither pydicom nor the CLI, so a probe every 30 s
costs ~0.1 s instead of the ~1.5 s of CPU `sr2fhir status --probe` needs to start.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from sr2fhir.exits import ExitStatus

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 9112  # sr2fhir.config.HttpConfig's defaults
LOOPBACK = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def endpoint(config_file: str | None, env: Mapping[str, str]) -> tuple[str, int]:
    """(host to connect to, port) of the gateway's HTTP endpoint."""
    http: dict[str, Any] = {}
    if config_file:
        with open(config_file, encoding="utf-8") as handle:
            http = (yaml.safe_load(handle) or {}).get("http") or {}
    host = str(env.get("SR2FHIR_HTTP_HOST") or http.get("host") or DEFAULT_HOST)
    port = int(env.get("SR2FHIR_HTTP_PORT") or http.get("port") or DEFAULT_PORT)
    return LOOPBACK.get(host, host), port


def fetch(host: str, port: int, path: str, timeout: float = 5.0) -> tuple[int | None, str]:
    """(HTTP status or None if unreachable, body or the reason)."""
    netloc = f"[{host}]" if ":" in host else host
    url = f"http://{netloc}:{port}/{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace").strip()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace").strip()
    except OSError as exc:
        return None, f"{url}: {exc}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sr2fhir.ops.probe")
    parser.add_argument("--config", metavar="FILE", help="the gateway's YAML configuration")
    parser.add_argument("path", choices=("healthz", "readyz"))
    args = parser.parse_args(argv)
    try:
        host, port = endpoint(args.config, os.environ)
    except (OSError, ValueError, AttributeError, yaml.YAMLError) as exc:
        print(f"probe: cannot read the http settings: {exc}", file=sys.stderr)
        return ExitStatus.FAILED
    if port == 0:
        print("probe: http.port is 0 (any free port): nothing to probe", file=sys.stderr)
        return ExitStatus.FAILED
    status, text = fetch(host, port, args.path)
    print(text, file=sys.stdout if status is not None else sys.stderr)
    return ExitStatus.OK if status == 200 else ExitStatus.FAILED


if __name__ == "__main__":
    sys.exit(main())
