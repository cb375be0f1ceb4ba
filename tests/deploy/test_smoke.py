"""Every service's command, as docker-compose.yml and the Dockerfile give it, run on this machine against the
throwaway PostgreSQL and Redis: the image's static-files step, migrate, web (gunicorn, its /healthz and the image's
health check), a worker running a task from Redis, beat sending its heartbeat, and the demo's emulator.

Each process runs in a session of its own, with the image's environment and the service's environment as Compose
resolves it, in a fresh database and a Redis database of its own, and is killed with its whole process group.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
import requests
from celery import Celery
from kombu import Connection

from config.health import HEARTBEAT_KEY
from tests.deploy.conftest import (
    DEMO_ENV,
    ROOT,
    build_step,
    image_command,
    image_environment,
    image_healthcheck,
    resolved_config,
    submit,
    write_env_file,
)

# Generous bounds for a loaded CI machine; each wait ends as soon as its condition holds.
START_TIMEOUT = 60
COMMAND_TIMEOUT = 180


def wait_until(condition: Callable[[], bool], timeout: float = START_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except (OSError, redis.RedisError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """One long-running command in its own process group, its output in a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the command under test, from our own files
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, *, main_process_only: bool = False, timeout: float = 30) -> None:
        """SIGTERM (to the main process alone for Celery's prefork pool, which shuts its children down itself), then
        SIGKILL to whatever of the group is left."""
        try:
            if self.running():
                if main_process_only:
                    self.process.send_signal(signal.SIGTERM)
                else:
                    os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers={"Host": "localhost", **(headers or {})})
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


@pytest.fixture(scope="module")
def smoke_database() -> Iterator[str]:
    """A database of its own on the throwaway PostgreSQL, dropped afterwards."""
    server = os.environ["DATABASE_URL"]
    name = f"smoke_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlsplit(server)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def smoke_broker() -> Iterator[str]:
    """A Redis database other than the suite's, so that the smoke worker never takes the suite's tasks."""
    parts = urlsplit(os.environ["CELERY_BROKER_URL"])
    suite_db = int(parts.path.strip("/") or 0)
    url = parts._replace(path=f"/{(suite_db + 1) % 16}").geturl()
    client = redis.Redis.from_url(url)
    client.delete(HEARTBEAT_KEY, "celery")
    yield url
    client.delete(HEARTBEAT_KEY, "celery")
    client.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("smoke")


@pytest.fixture(scope="module")
def services(smoke_database, smoke_broker, workdir) -> dict:
    """The services as Compose resolves them (demo profile included), with this test's settings in the env file."""
    app_env = write_env_file(
        workdir / "app.env",
        {
            "DJANGO_SECRET_KEY": "smoke-test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
            "DATABASE_URL": smoke_database,
            "CELERY_BROKER_URL": smoke_broker,
            "EMAIL_URL": "consolemail://",
            "TOKEN_ENCRYPTION_KEYS": "c21va2UtdGVzdC1vbmx5LXRva2VuLWtleS0zMmJ5dGU=",
            "SMARTCAR_CLIENT_ID": "smoke-client-id",
            "SMARTCAR_CLIENT_SECRET": "smoke-client-secret",
            "SMARTCAR_REDIRECT_URI": "https://garage.example.com/exchange",
            "SMARTCAR_MODE": "live",
        },
    )
    compose_env = write_env_file(workdir / "compose.env", {"POSTGRES_PASSWORD": "unused", "GARAGE_ENV_FILE": app_env})
    return resolved_config(compose_env, "--profile", "demo")["services"]


def process_env(service: dict, **extra: str) -> dict[str, str]:
    """What the container would see: the image's ENV, then the service's environment; plus this machine's PATH with
    the virtualenv first, as the image has its own."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "CELERY_", "SMARTCAR_", "TOKEN_", "GUNICORN_", "PYTEST_"))
    }
    inherited["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {**inherited, **image_environment(), **service.get("environment", {}), **extra}


@pytest.fixture(scope="module")
def static_root(services, workdir) -> Path:
    """The Dockerfile's collectstatic step, with its own placeholder variables, into a folder of this test's."""
    step_env, command = build_step("collectstatic")
    root = workdir / "static"
    env = {**process_env({}), **step_env, "DJANGO_STATIC_ROOT": str(root)}
    result = subprocess.run(  # noqa: S603 - the Dockerfile's own command
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return root


@pytest.fixture(scope="module")
def migrated(services, smoke_database) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - the compose file's own command
        services["migrate"]["command"],
        cwd=ROOT,
        env=process_env(services["migrate"]),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def start_web(name: str, argv: list[str], service: dict, static_root: Path, workdir: Path) -> tuple[Service, dict]:
    port = free_port()
    env = process_env(
        service,
        PORT=str(port),
        # The image listens on every interface of its container; here, loopback only.
        GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port}",
        DJANGO_STATIC_ROOT=str(static_root),
    )
    return Service(name, argv, env, workdir), env


def image_healthcheck_passes(env: dict[str, str]) -> bool:
    result = subprocess.run(  # noqa: S603 - the Dockerfile's own HEALTHCHECK command
        image_healthcheck(), cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    return result.returncode == 0


@pytest.fixture(scope="module")
def web(services, migrated, static_root, workdir) -> Iterator[tuple[Service, int]]:
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    service, env = start_web("web", image_command(), services["web"], static_root, workdir)
    try:
        healthy = wait_until(lambda: service.running() and image_healthcheck_passes(env))
        assert healthy, service.log()
        yield service, int(env["PORT"])
    finally:
        service.stop()


@pytest.fixture(scope="module")
def worker(services, migrated, workdir) -> Iterator[Service]:
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    env = process_env(services["worker"], HOSTNAME=socket.gethostname())
    service = Service("worker", services["worker"]["command"], env, workdir)
    try:
        assert wait_until(lambda: service.running() and " ready." in service.log()), service.log()
        yield service
    finally:
        service.stop(main_process_only=True)


def heartbeat(broker: str) -> float | None:
    """The age in seconds of the heartbeat recorded in Redis, or None."""
    with redis.Redis.from_url(broker) as client:
        value = client.get(HEARTBEAT_KEY)
    return time.time() - datetime.fromisoformat(value.decode()).timestamp() if value else None


def test_dockerfile_collects_the_static_files_of_every_app(static_root):
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]

    assert {"css/site.css", "smartcar_emulator/connect.css", "admin/css/base.css"} <= set(manifest)


def test_migrate_command_creates_the_schema(migrated, smoke_database):
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    with psycopg.connect(smoke_database) as connection:
        tables = {row[0] for row in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"accounts_user", "vehicles_smartcarconnection", "axes_accessattempt", "django_session"} <= tables


def test_web_command_serves_healthz_and_passes_the_image_health_check(web):
    _, port = web

    response = get(port, "/healthz")

    assert response.status == 200
    assert json.loads(response.body) == {"status": "ok", "checks": {"database": {"ok": True}, "broker": {"ok": True}}}


def test_web_sends_the_security_headers_and_a_request_id(web):
    _, port = web

    page = get(port, "/accounts/login/", headers={"X-Forwarded-Proto": "https", "X-Request-ID": "proxy-id-42"})

    assert page.status == 200
    assert page.getheader("X-Request-ID") == "proxy-id-42"
    assert page.getheader("Content-Security-Policy").startswith("default-src 'self'")
    assert page.getheader("Referrer-Policy") == "same-origin"
    assert page.getheader("X-Frame-Options") == "DENY"
    assert "max-age=31536000" in page.getheader("Strict-Transport-Security")
    assert "Secure" in page.getheader("Set-Cookie")
    # The hashed stylesheet collected at build time, served by whitenoise.
    stylesheet = page.body.decode().split('rel="stylesheet" href="')[1].split('"')[0]
    assert get(port, stylesheet, headers={"X-Forwarded-Proto": "https"}).status == 200


def test_web_redirects_plain_http_to_https(web):
    _, port = web

    response = get(port, "/accounts/login/")

    assert response.status == 301
    assert response.getheader("Location") == "https://localhost/accounts/login/"


def test_web_logs_json_lines_with_request_ids_and_no_secrets(web):
    service, port = web
    get(port, "/accounts/login/?code=s3cr3t-code", headers={"X-Forwarded-Proto": "https", "X-Request-ID": "log-1"})

    def logged() -> list[dict]:
        return [line for line in json_lines(service.log()) if line.get("request_id") == "log-1"]

    assert wait_until(lambda: logged(), timeout=10)
    [line] = logged()
    assert line["message"] == "GET /accounts/login/ 200"
    assert (line["level"], line["logger"], line["status"]) == ("INFO", "config.request", 200)
    assert "s3cr3t-code" not in service.log()
    assert any(line["logger"] == "gunicorn.error" for line in json_lines(service.log()))


def test_worker_command_runs_a_task_published_to_redis(worker, smoke_broker, services):
    with redis.Redis.from_url(smoke_broker) as client:
        client.delete(HEARTBEAT_KEY)

    # An explicit connection: Celery would take CELERY_BROKER_URL, the suite's broker, from the environment.
    with Connection(smoke_broker) as connection:
        Celery().send_task("config.tasks.beat_heartbeat", connection=connection)

    assert wait_until(lambda: heartbeat(smoke_broker) is not None, timeout=30), worker.log()
    assert heartbeat(smoke_broker) < 30
    assert "Task config.tasks.beat_heartbeat[" in worker.log()


def test_worker_passes_its_compose_health_check(worker, services):
    [kind, command] = services["worker"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"

    result = subprocess.run(  # noqa: S603 - the compose file's own health check
        # `config` keeps the file's $$ escapes; the container gets a plain $, as here.
        ["sh", "-c", command.replace("$$", "$")],  # noqa: S607 - as Docker runs CMD-SHELL
        cwd=ROOT,
        env=process_env(services["worker"], HOSTNAME=socket.gethostname()),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "pong" in result.stdout


def test_beat_command_sends_the_heartbeat_that_healthz_beat_reports(web, worker, services, smoke_broker, workdir):
    _, port = web
    with redis.Redis.from_url(smoke_broker) as client:
        client.delete(HEARTBEAT_KEY)
    assert get(port, "/healthz/beat").status == 503

    env = process_env(
        services["beat"],
        BEAT_HEARTBEAT_INTERVAL_SECONDS="1",
        CELERY_BEAT_SCHEDULE_FILENAME=str(workdir / "celerybeat-schedule"),
    )
    beat = Service("beat", services["beat"]["command"], env, workdir)
    try:
        assert wait_until(lambda: heartbeat(smoke_broker) is not None, timeout=30), beat.log() + worker.log()
        assert "Sending due task beat-heartbeat (config.tasks.beat_heartbeat)" in beat.log()
    finally:
        beat.stop()

    response = get(port, "/healthz/beat")
    assert response.status == 200
    assert json.loads(response.body)["checks"]["beat"]["ok"] is True


@pytest.mark.parametrize(
    ("heartbeat_age", "healthy", "said"),
    [(None, False, "NoHeartbeat"), (timedelta(seconds=20), True, "ok"), (timedelta(minutes=10), False, "Stale")],
)
def test_beat_compose_health_check_is_its_heartbeat_age(services, smoke_broker, heartbeat_age, healthy, said):
    [kind, *command] = services["beat"]["healthcheck"]["test"]
    assert kind == "CMD"
    with redis.Redis.from_url(smoke_broker) as client:
        client.delete(HEARTBEAT_KEY)
        if heartbeat_age is not None:
            client.set(HEARTBEAT_KEY, (datetime.now(UTC) - heartbeat_age).isoformat())

    result = subprocess.run(  # noqa: S603 - the compose file's own health check
        command, cwd=ROOT, env=process_env(services["beat"]), capture_output=True, text=True, timeout=60, check=False
    )

    assert (result.returncode == 0) is healthy, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith(said), result.stdout


def test_demo_emulator_command_migrates_its_tables_and_serves_connect(services, migrated, static_root, workdir):
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    emulator = services["emulator"]
    service, env = start_web("emulator", emulator["command"], emulator, static_root, workdir)
    try:
        assert wait_until(lambda: service.running() and image_healthcheck_passes(env)), service.log()

        page = get(int(env["PORT"]), "/emulator/", headers={"X-Forwarded-Proto": "https"})

        assert page.status == 200, page.body
        assert "smartcar_emulator/connect." in page.body.decode()
        assert page.getheader("Content-Security-Policy")
    finally:
        service.stop()


@pytest.fixture(scope="module")
def demo_broker() -> Iterator[str]:
    """The demo's tasks go to a Redis database of their own: no worker here may call a Smartcar on the internet."""
    parts = urlsplit(os.environ["CELERY_BROKER_URL"])
    url = parts._replace(path=f"/{(int(parts.path.strip('/') or 0) + 2) % 16}").geturl()
    yield url
    with redis.Redis.from_url(url) as client:
        client.delete("celery", HEARTBEAT_KEY)


@pytest.fixture(scope="module")
def demo(migrated, smoke_database, demo_broker, static_root, workdir) -> Iterator[tuple[int, int]]:
    """web and the emulator with deploy/demo.env's settings as Compose resolves them, the compose network's names
    and ports swapped for this machine's free ones."""
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    services = resolved_config(DEMO_ENV)["services"]
    web_port, emulator_port = free_port(), free_port()

    def here(service: dict) -> dict:
        environment = {
            name: value.replace("http://emulator:8000", f"http://127.0.0.1:{emulator_port}")
            .replace("localhost:8001", f"localhost:{emulator_port}")
            .replace("localhost:8000", f"localhost:{web_port}")
            for name, value in service["environment"].items()
        }
        environment.update(DATABASE_URL=smoke_database, CELERY_BROKER_URL=demo_broker)
        return {**service, "environment": environment}

    started = []
    try:
        for name, argv, port in (
            ("emulator", services["emulator"]["command"], emulator_port),
            ("web", image_command(), web_port),
        ):
            env = process_env(
                here(services[name]),
                PORT=str(port),
                GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port}",
                DJANGO_STATIC_ROOT=str(static_root),
                # The emulator's one application may return only to the demo's redirect URI.
                SMARTCAR_EMULATOR_REDIRECT_URIS=f"http://localhost:{web_port}/exchange",
            )
            service = Service(f"demo-{name}", argv, env, workdir)
            started.append(service)
            assert wait_until(lambda: service.running() and image_healthcheck_passes(env)), service.log()  # noqa: B023
        yield web_port, emulator_port
    finally:
        for service in started:
            service.stop()


def test_demo_connects_a_car_through_the_emulator_over_http(demo, smoke_database):
    web_port, emulator_port = demo
    browser = requests.Session()
    site = f"http://localhost:{web_port}"

    signup = browser.get(f"{site}/accounts/signup/", timeout=30)
    submit(
        browser,
        signup,
        {"email": "demo@example.com", "password1": "a long demo password", "password2": "a long demo password"},
    )
    brands = browser.get(f"{site}/login", timeout=30)
    assert brands.url.startswith(f"http://localhost:{emulator_port}/emulator/connect/oauth/authorize?")
    sign_in = submit(browser, brands, {})
    cars = submit(browser, sign_in, {"username": "demo@example.com", "password": "anything"})
    vehicles = submit(browser, cars, {}, button=1)

    assert vehicles.url == f"{site}/vehicles/"
    with psycopg.connect(smoke_database) as connection:
        [(count,)] = connection.execute(
            "SELECT count(*) FROM vehicles_vehicle JOIN accounts_user ON accounts_user.id = owner_id "
            "WHERE accounts_user.email = 'demo@example.com'"
        ).fetchall()
    assert count >= 1
    assert "Approve" not in vehicles.text
