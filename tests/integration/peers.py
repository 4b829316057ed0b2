"""Real peers for integration tests: a gateway subprocess, dcmtk, Orthanc; free ports; polling.

Every helper that starts a process is a context manager that stops it (and waits) on exit,
also when the test fails. Nothing here sleeps to wait for readiness: it polls with a deadline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
STORESCU = "/usr/bin/storescu"  # not the pynetdicom shim of the same name on PATH
STORESCP = "/usr/bin/storescp"
ECHOSCU = "/usr/bin/echoscu"
ORTHANC_CANDIDATES = ("/usr/sbin/Orthanc", "/usr/bin/Orthanc")
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}  # dcmtk and Orthanc are ~40x slower without it
T = TypeVar("T")


# ---------------------------------------------------------------- basics


def require_executable(path: str) -> str:
    """The tool's path; skip without it unless in CI (CI=true), where it must exist."""
    if os.access(path, os.X_OK):
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{path} is missing in CI (.ci/run installs dcmtk and Orthanc)")
    pytest.skip(f"{path} is not installed")
    raise AssertionError("unreachable")


def orthanc_executable() -> str:
    found = next((p for p in ORTHANC_CANDIDATES if os.access(p, os.X_OK)), None)
    return require_executable(found or ORTHANC_CANDIDATES[0])


def free_port() -> int:
    """A TCP port the OS just handed out (for peers whose config needs a number)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def stop_process(
    proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 15
) -> None:
    """Signal the process group, wait; SIGKILL if it does not go."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    with suppress(ProcessLookupError):  # leftovers in the group (worker processes) too
        os.killpg(proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------- SR files


def write_reports(folder: Path, count: int, start: int = 0) -> list[Path]:
    """`count` distinct TID 1500 benchmark reports as Part-10 files."""
    from tests.srfactory import benchmark_report_bytes

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(start, start + count):
        path = folder / f"sr-{index:05d}.dcm"
        path.write_bytes(benchmark_report_bytes(index))
        paths.append(path)
    return paths


def sop_instance_uid(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def outbox_uids(outbox: Path) -> set[str]:
    return {p.name[: -len(".json")] for p in outbox.glob("*.json")} if outbox.is_dir() else set()


# ---------------------------------------------------------------- the gateway


@dataclass
class GatewayProcess:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """The first match of `pattern` in the gateway's log, polled until it is written."""
        compiled = re.compile(pattern)
        return wait_until(
            lambda: compiled.search(self.log_text()), timeout, f"{pattern!r} in the gateway log"
        )


def start_gateway(
    data_dir: Path,
    *args: str,
    port: int = 0,
    env: dict[str, str] | None = None,
    log_name: str = "gateway.log",
) -> GatewayProcess:
    """`python -m sr2fhir serve` in its own process group; returns once it listens."""
    log_path = data_dir.parent / log_name
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "sr2fhir", "serve", "--data-dir", str(data_dir)]
    command += ["--port", str(port), "--ae-title", "SR2FHIR", *args]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    with open(log_path, "ab") as log_file:
        start_offset = log_file.tell()
        proc = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=REPO,
            start_new_session=True,
        )
    pattern = re.compile(r"listening on [^ ]+:(\d+)")

    def bound_port() -> int | None:
        if proc.poll() is not None:
            raise AssertionError(f"gateway exited with {proc.returncode}:\n{_tail(log_path)}")
        text = log_path.read_bytes()[start_offset:].decode(errors="replace")
        match = pattern.search(text)
        return int(match.group(1)) if match else None

    try:
        bound = wait_until(bound_port, 60, "the gateway to listen")
    except BaseException:
        stop_process(proc, signal.SIGKILL)
        raise
    return GatewayProcess(proc, bound, data_dir, log_path)


@contextmanager
def running_gateway(data_dir: Path, *args: str, **kwargs: Any) -> Iterator[GatewayProcess]:
    gateway = start_gateway(data_dir, *args, **kwargs)
    try:
        yield gateway
    finally:
        stop_process(gateway.proc)


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ---------------------------------------------------------------- dcmtk


def storescu(
    port: int,
    files: Sequence[Path],
    *,
    calling: str = "TESTSCU",
    called: str = "SR2FHIR",
    extra: Sequence[str] = (),
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """dcmtk storescu -R (propose only what the files need; needed for Comprehensive 3D SR)."""
    command = [require_executable(STORESCU), "-R", "-aet", calling, "-aec", called, *extra]
    command += ["127.0.0.1", str(port), *map(str, files)]
    return subprocess.run(
        command, env=DCMTK_ENV, capture_output=True, text=True, timeout=timeout, check=False
    )


def echoscu(port: int, *, calling: str = "TESTSCU") -> subprocess.CompletedProcess[str]:
    command = [require_executable(ECHOSCU), "-aet", calling, "-aec", "SR2FHIR"]
    command += ["127.0.0.1", str(port)]
    return subprocess.run(
        command, env=DCMTK_ENV, capture_output=True, text=True, timeout=30, check=False
    )


@contextmanager
def running_storescp(out_dir: Path) -> Iterator[int]:
    """dcmtk's own storescp writing to `out_dir`; yields its port."""
    out_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [require_executable(STORESCP), "-aet", "STORESCP", "-od", str(out_dir), str(port)],
        env=DCMTK_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: accepts_tcp(port) or _exited(proc), 30, "storescp to listen")
        yield port
    finally:
        stop_process(proc)


def accepts_tcp(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _exited(proc: subprocess.Popen[Any]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"peer exited early with {proc.returncode}")
    return False


# ---------------------------------------------------------------- Orthanc


@dataclass
class Orthanc:
    http_port: int
    dicom_port: int

    def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        req = urllib.request.Request(url, data=body, method=method)
        with urllib.request.urlopen(req, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def upload(self, path: Path) -> str:
        """POST /instances; returns Orthanc's instance id."""
        return str(self.request("POST", "/instances", path.read_bytes())["ID"])

    def store_to(self, modality: str, ids: Sequence[str]) -> Any:
        body = json.dumps({"Resources": list(ids), "Synchronous": True}).encode()
        return self.request("POST", f"/modalities/{modality}/store", body)


@contextmanager
def running_orthanc(
    work: Path, modalities: dict[str, tuple[str, int]], extra: dict[str, Any] | None = None
) -> Iterator[Orthanc]:
    """Orthanc on loopback with its own storage and the given DICOM modalities (AET, port);
    `extra` adds or replaces configuration options (e.g. "LuaScripts")."""
    work.mkdir(parents=True, exist_ok=True)
    orthanc = Orthanc(free_port(), free_port())
    config = {
        "Name": "sr2fhir-test",
        "HttpPort": orthanc.http_port,
        "DicomPort": orthanc.dicom_port,
        "DicomAet": "ORTHANC",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "StorageDirectory": str(work / "storage"),
        "IndexDirectory": str(work / "index"),
        "Plugins": [],
        "DicomModalities": {
            name: {"AET": aet, "Host": "127.0.0.1", "Port": port}
            for name, (aet, port) in modalities.items()
        },
        **(extra or {}),
    }
    config_path = work / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    log_path = work / "orthanc.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [orthanc_executable(), str(config_path)],
            env=DCMTK_ENV,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: _orthanc_ready(orthanc) or _exited(proc), 60, "Orthanc's REST API")
        yield orthanc
    finally:
        stop_process(proc, timeout=20)  # Orthanc takes ~4.5 s to stop on SIGTERM


def _orthanc_ready(orthanc: Orthanc) -> bool:
    try:
        return bool(orthanc.request("GET", "/system"))
    except OSError:
        return False


def dicom_tools_present() -> bool:
    return all(shutil.which(p) for p in (STORESCU, ECHOSCU))


# ---------------------------------------------------------------- a pynetdicom sender


def sr_sender_ae(calling: str = "PYSCU") -> Any:
    """A pynetdicom SCU proposing every SR storage class (and Verification)."""
    from pynetdicom import AE

    from sr2fhir.scp import SR_STORAGE_CLASSES, TRANSFER_SYNTAXES

    ae = AE(ae_title=calling)
    for sop_class in SR_STORAGE_CLASSES:
        ae.add_requested_context(sop_class, list(TRANSFER_SYNTAXES))
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    return ae


def send_files(port: int, files: Sequence[Path], acknowledged: list[str]) -> None:
    """C-STORE each file over one association; append each UID answered 0x0000 to
    `acknowledged`. Stops quietly when the peer goes away (that is what the caller tests)."""
    import pydicom

    assoc = sr_sender_ae().associate("127.0.0.1", port, ae_title="SR2FHIR")
    if not assoc.is_established:
        return
    try:
        for path in files:
            ds = pydicom.dcmread(path)
            status = assoc.send_c_store(ds)
            if not assoc.is_established or "Status" not in status:
                return
            if status.Status == 0x0000:
                acknowledged.append(str(ds.SOPInstanceUID))
    finally:
        if assoc.is_established:
            assoc.release()


def sending_in_background(
    port: int, files: Sequence[Path], acknowledged: list[str], wait_for: int
) -> threading.Thread:
    """`send_files` in a thread; returns once `wait_for` instances are acknowledged."""
    sender = threading.Thread(target=send_files, args=(port, files, acknowledged))
    sender.start()
    wait_until(lambda: len(acknowledged) >= wait_for, 60, f"{wait_for} acknowledgements")
    return sender


# ---------------------------------------------------------------- DICOM TLS

OPENSSL = "/usr/bin/openssl"
TLS_LISTENING = re.compile(r"listening on [^ ]+:(\d+) \(DICOM TLS")


@dataclass(frozen=True)
class TlsIdentity:
    """A certificate and its unencrypted private key (PEM files, made at test time)."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """One CA issuing the gateway's and a sender's certificates, and a second, foreign CA
    with its own sender certificate (which the gateway must not accept)."""

    ca: Path
    server: TlsIdentity
    client: TlsIdentity
    foreign_ca: Path
    foreign_client: TlsIdentity


def make_pki(folder: Path) -> Pki:
    """Certificates for one test run with the openssl CLI (RSA 2048, valid 2 days); the keys
    live in a temporary folder only and are never committed."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _issue(folder, "ca", "sr2fhir test CA", None, ca=True)
    foreign = _issue(folder, "foreign-ca", "another CA", None, ca=True)
    server_names = "subjectAltName=IP:127.0.0.1,DNS:localhost"
    return Pki(
        ca=ca.cert,
        server=_issue(folder, "server", "localhost", ca, extension=server_names),
        client=_issue(folder, "client", "TESTSCU modality", ca),
        foreign_ca=foreign.cert,
        foreign_client=_issue(folder, "foreign-client", "TESTSCU elsewhere", foreign),
    )


def _issue(
    folder: Path,
    name: str,
    common_name: str,
    issuer: TlsIdentity | None,
    *,
    ca: bool = False,
    extension: str | None = None,
) -> TlsIdentity:
    made = TlsIdentity(folder / f"{name}.pem", folder / f"{name}.key")
    command = [require_executable(OPENSSL), "req", "-x509", "-newkey", "rsa:2048", "-nodes"]
    command += ["-keyout", str(made.key), "-out", str(made.cert), "-days", "2"]
    command += ["-subj", f"/CN={common_name}"]
    if issuer is not None:
        command += ["-CA", str(issuer.cert), "-CAkey", str(issuer.key)]
    constraints = "critical,CA:TRUE" if ca else "critical,CA:FALSE"
    command += ["-addext", f"basicConstraints={constraints}"]
    if ca:
        command += ["-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    else:
        command += ["-addext", "extendedKeyUsage=serverAuth,clientAuth"]
    if extension:
        command += ["-addext", extension]
    subprocess.run(command, capture_output=True, check=True, timeout=60)
    return made


def gateway_tls_env(pki: Pki, tls_port: int = 0) -> dict[str, str]:
    """SR2FHIR_DICOM_TLS_* for a gateway subprocess: TLS with client certificates required."""
    return {
        "SR2FHIR_DICOM_TLS_PORT": str(tls_port),
        "SR2FHIR_DICOM_TLS_CERT": str(pki.server.cert),
        "SR2FHIR_DICOM_TLS_KEY": str(pki.server.key),
        "SR2FHIR_DICOM_TLS_CA": str(pki.ca),
    }


def gateway_tls_port(gateway: GatewayProcess) -> int:
    """The TLS port the gateway logged at start (dicom.tls_port 0 = any free port)."""

    return int(gateway.wait_for_log(TLS_LISTENING.pattern).group(1))


def dcmtk_tls_flags(identity: TlsIdentity | None, trusted_ca: Path) -> list[str]:
    """storescu/echoscu options: TLS with this client certificate (None: anonymous TLS,
    no certificate), trusting `trusted_ca` for the gateway's certificate."""
    if identity is None:
        return ["+tla", "+cf", str(trusted_ca)]
    return ["+tls", str(identity.key), str(identity.cert), "+cf", str(trusted_ca)]


def echoscu_tls(
    port: int, flags: Sequence[str], *, calling: str = "TESTSCU"
) -> subprocess.CompletedProcess[str]:
    """dcmtk echoscu over TLS (`flags` from dcmtk_tls_flags)."""
    command = [require_executable(ECHOSCU), *flags, "-aet", calling, "-aec", "SR2FHIR"]
    command += ["127.0.0.1", str(port)]
    return subprocess.run(
        command, env=DCMTK_ENV, capture_output=True, text=True, timeout=30, check=False
    )


def tls_client_context(pki: Pki, identity: TlsIdentity | None) -> Any:
    """A pynetdicom SCU's ssl.SSLContext: trusts the test CA, presents `identity` (if any)."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca))
    if identity is not None:
        context.load_cert_chain(str(identity.cert), str(identity.key))
    return context
