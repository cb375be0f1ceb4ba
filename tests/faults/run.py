"""The fault suite (`make faults`): zero lost connections under faults, on a stack shaped like production.

PostgreSQL (fsync on) and Redis (append-only) of its own, which it stops and kills; the emulator as a separate HTTP
service with its own database; a fault proxy (tests/vehicles/token_proxy.py) in front of the emulator's token
endpoint; a real Celery worker (prefork, 8 processes) and beat. CONNECTIONS connections are made through the real
Connect flow. Each scenario makes them all due, sends beat's sweep, injects its fault, waits until every refresh has
settled, then moves the emulator's clock past Smartcar's grace and asks the emulator whether each stored refresh
token (decrypted) still works. A connection is lost when it needs reconnecting or holds a dead token.

Prints the table and exits 1 if any connection was lost.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = int(os.environ.get("FAULTS_CONNECTIONS", "200"))
# Short HTTP timeouts keep the run short; the recovery window (45 s) is the product's own.
HTTP_TIMEOUT = 3
SETTLE_TIMEOUT = 300
CLIENT_ID, CLIENT_SECRET = "emulator-client-id", "emulator-client-secret"
ENCRYPTION_KEY = "ZmF1bHQtc3VpdGUtb25seS10b2tlbi1rZXktMzJieXQ="


def log(message: str) -> None:
    print(f"faults: {message}", flush=True)  # noqa: T201


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001, S110 - a server on its way up or down
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


class Postgres:
    """A cluster of its own (initdb refuses root: it runs as the postgres user there), stopped and started at will."""

    def __init__(self, workdir: Path) -> None:
        self.bindir = Path(
            next(
                str(path)
                for path in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
                if (path / "initdb").exists()
            )
        )
        self.data = workdir / "pg"
        self.port = free_port()
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
            shutil.chown(workdir, "postgres", "postgres")
        self._as_pg([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"])
        self.start()

    def _as_pg(self, command: list[str]) -> None:
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c max_connections=200"
        self._as_pg(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.data / "log"),
                "-w",
                "-o",
                options,
                "start",
            ]
        )

    def stop(self) -> None:
        # As a crash would: no checkpoint, every connection cut.
        self._as_pg([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])


class Redis:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--appendonly", "yes"]
        self.process = subprocess.Popen([*command, "--dir", str(self.dir)], stdout=subprocess.DEVNULL)  # noqa: S603
        wait_until(lambda: socket.create_connection(("127.0.0.1", self.port), timeout=1).close() is None, 10, "Redis")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@dataclass
class Stack:
    workdir: Path
    postgres: Postgres
    redis: Redis
    emulator_url: str
    processes: dict[str, subprocess.Popen]
    app_env: dict[str, str]

    def start_process(self, name: str, command: list[str]) -> None:
        logfile = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=self.app_env, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start_worker(self) -> None:
        celery = [sys.executable, "-m", "celery", "-A", "config"]
        self.start_process("worker", [*celery, "worker", "--concurrency", "8", "--loglevel", "INFO", "-n", "faults@%h"])
        log_file = self.workdir / "worker.log"
        # Up when it says so in its log (a restarted worker must be taking tasks again before a scenario goes on).
        ready_before = log_file.read_text(errors="replace").count(" ready.")
        deadline = time.monotonic() + 90
        while log_file.read_text(errors="replace").count(" ready.") <= ready_before:
            if self.processes["worker"].poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"the worker did not start:\n{tail}")
            time.sleep(0.2)

    def kill_worker(self) -> None:
        # The whole worker, main process and pool children at once, as the kernel's OOM killer or a lost host would.
        os.killpg(self.processes["worker"].pid, signal.SIGKILL)
        self.processes["worker"].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.redis.kill()
        self.postgres.stop()


def control(stack: Stack, method: str, path: str, **kwargs) -> requests.Response:
    credentials = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    response = requests.request(
        method,
        f"{stack.emulator_url}/control/{path}",
        headers={"Authorization": f"Basic {credentials}"},
        timeout=30,
        **kwargs,
    )
    response.raise_for_status()
    return response


def start_stack(workdir: Path, proxy_port: int) -> Stack:
    postgres = Postgres(workdir)
    redis = Redis(workdir)
    emulator_port = free_port()
    emulator_url = f"http://127.0.0.1:{emulator_port}/emulator"
    base_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_ENV_FILE": "/dev/null",
        "DJANGO_LOG_LEVEL": "WARNING",
        "TOKEN_ENCRYPTION_KEYS": ENCRYPTION_KEY,
    }
    emulator_env = {
        **base_env,
        "SMARTCAR_EMULATOR": "true",
        "DATABASE_URL": f"sqlite:///{workdir / 'emulator-app.sqlite3'}",
        "SMARTCAR_EMULATOR_DATABASE_URL": f"sqlite:///{workdir / 'emulator.sqlite3'}",
        "CELERY_BROKER_URL": redis.url,
    }
    app_env = {
        **base_env,
        "SMARTCAR_EMULATOR": "false",
        "DATABASE_URL": postgres.url,
        "DATABASE_CONNECT_TIMEOUT": "2",
        "CELERY_BROKER_URL": redis.url,
        "SMARTCAR_CLIENT_ID": CLIENT_ID,
        "SMARTCAR_CLIENT_SECRET": CLIENT_SECRET,
        "SMARTCAR_CONNECT_ORIGIN": f"{emulator_url}/connect",
        "SMARTCAR_AUTH_ORIGIN": f"http://127.0.0.1:{proxy_port}/oauth/token",
        "SMARTCAR_API_ORIGIN": f"{emulator_url}/api",
        "SMARTCAR_VEHICLE_API_V3_ORIGIN": f"{emulator_url}/vehicle-api",
        "SMARTCAR_HTTP_TIMEOUT": str(HTTP_TIMEOUT),
        # Beat sweeps every minute, so that what a killed worker held is queued again as it would be in 5 minutes.
        "TOKEN_REFRESH_INTERVAL_MINUTES": "1",
    }
    manage = [sys.executable, "manage.py"]
    for env, arguments in ((emulator_env, []), (emulator_env, ["--database", "emulator"]), (app_env, [])):
        migrate = [*manage, "migrate", "--noinput", *arguments]
        subprocess.run(migrate, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    stack = Stack(workdir, postgres, redis, emulator_url, {}, app_env)
    gunicorn = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{emulator_port}", "--threads", "16"]
    stack.app_env, saved = emulator_env, app_env
    stack.start_process("emulator", [*gunicorn, "--timeout", "120", "config.wsgi"])
    stack.app_env = saved
    wait_until(lambda: requests.get(f"{emulator_url}/", timeout=2).ok, 30, "the emulator")
    # Smartcar's rate limits are not under test here: every Connect and refresh must reach the token endpoint.
    control(stack, "PUT", "rate-limits", json={"rate_limits_enabled": False})
    stack.start_worker()
    schedule = str(workdir / "beat-schedule")
    stack.start_process(
        "beat", [sys.executable, "-m", "celery", "-A", "config", "beat", "-s", schedule, "--loglevel", "INFO"]
    )
    return stack


# --- Connect, as a browser would: the application's views in this process, the emulator's pages over HTTP -------


def connect(client, number: int) -> None:
    browser = requests.Session()
    start = client.get("/login")
    page = browser.get(start["Location"], timeout=30)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))

    def hidden(text: str) -> dict[str, str]:
        """The form's hidden fields: the flow and the CSRF token."""
        fields = re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', text)
        return {name: html.unescape(value) for name, value in fields}

    page = browser.post(f"{origin}/emulator/connect/login", data={**hidden(page.text), "make": "TESLA"}, timeout=30)
    page = browser.post(
        f"{origin}/emulator/connect/login",
        data={**hidden(page.text), "username": f"driver-{number}@example.com", "password": "pw"},
        timeout=30,
        allow_redirects=False,
    )
    if page.status_code != 302:
        vehicles = re.findall(r'name="vehicle"\s+value="([^"]+)" checked', page.text)
        page = browser.post(
            f"{origin}/emulator/connect/decide",
            data={**hidden(page.text), "vehicle": vehicles, "action": "approve"},
            timeout=30,
            allow_redirects=False,
        )
    callback = urlsplit(page.headers["Location"])
    finished = client.get(f"{callback.path}?{callback.query}")
    assert finished.status_code == 302, finished


def make_connections(count: int) -> None:
    from django.test import Client

    from accounts.models import User

    user = User.objects.create_user(email="faults@example.com", password="fault-suite-password")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    for number in range(count):
        connect(client, number)
    made = user.smartcar_connections.count()
    if made != count:
        raise RuntimeError(f"only {made} of {count} connections were made")


# --- Scenarios ---------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    connections: int
    faults: int
    lost: int
    dead_active: int
    seconds: float
    # From the worker's log: new pairs kept in memory until the database took them, orphaned refreshes finished by
    # another process, and refreshes that succeeded only after retrying an unknown outcome.
    kept: int = 0
    adopted: int = 0


def worker_log_size(stack: Stack) -> int:
    return (stack.workdir / "worker.log").stat().st_size


def worker_log_since(stack: Stack, offset: int) -> str:
    with (stack.workdir / "worker.log").open("rb") as log_file:
        log_file.seek(offset)
        return log_file.read().decode(errors="replace")


def settled(before: dict[int, int]) -> bool:
    from vehicles.models import SmartcarConnection

    rows = SmartcarConnection.objects.filter(pk__in=before).values_list(
        "pk", "status", "token_version", "refresh_started_at"
    )
    return all(
        started is None and (version > before[pk] or status != SmartcarConnection.Status.ACTIVE)
        for pk, status, version, started in rows
    )


def check_tokens(stack: Stack, ids: list[int]) -> tuple[int, int]:
    """(lost, active with a dead token), once Smartcar's grace has certainly passed for every token used so far."""
    from django.db import close_old_connections

    from vehicles.models import SmartcarConnection

    close_old_connections()
    control(stack, "POST", "clock", json={"advance_seconds": 61})
    connections = list(SmartcarConnection.objects.filter(pk__in=ids))
    valid = control(
        stack, "POST", "refresh-tokens/check", json={"refresh_tokens": [c.refresh_token for c in connections]}
    )
    lost = dead_active = 0
    for connection, alive in zip(connections, valid.json()["valid"], strict=True):
        active = connection.status == SmartcarConnection.Status.ACTIVE
        if not (active and alive):
            lost += 1
        if active and not alive:
            dead_active += 1
    return lost, dead_active


def run_scenario(
    stack: Stack, proxy, name: str, configure: Callable[[], None], during: Callable[[], int] | None = None
) -> Outcome:
    from celery import current_app
    from django.db import close_old_connections
    from django.utils import timezone

    from tests.vehicles.token_proxy import PASS
    from vehicles.models import SmartcarConnection

    close_old_connections()
    active = SmartcarConnection.objects.filter(status=SmartcarConnection.Status.ACTIVE)
    active.update(access_expires_at=timezone.now() - timezone.timedelta(minutes=1))
    before = dict(active.values_list("pk", "token_version"))
    proxy.calls.clear()
    configure()
    log_offset = worker_log_size(stack)
    started = time.monotonic()
    current_app.send_task("vehicles.tasks.refresh_due_connections")
    process_faults = during() if during else 0

    def done() -> bool:
        close_old_connections()
        return settled(before)

    try:
        wait_until(done, SETTLE_TIMEOUT, f"{name} to settle")
    except RuntimeError as exc:
        log(str(exc))
    seconds = time.monotonic() - started
    injected = sum(1 for call in proxy.calls if call != PASS)
    proxy.failures, proxy.failure_rate, proxy.default = [], 0.0, PASS
    lost, dead_active = check_tokens(stack, list(before))
    worker_log = worker_log_since(stack, log_offset)
    kept = worker_log.count("keeping the new tokens in memory")
    adopted = worker_log.count("recovered=True")
    outcome = Outcome(name, len(before), injected + process_faults, lost, dead_active, seconds, kept, adopted)
    log(
        f"{name}: {outcome.connections} connections, {outcome.faults} faults, {lost} lost, {kept} kept in memory, "
        f"{adopted} finished by another process ({seconds:.0f} s)"
    )
    return outcome


def refreshed_count(before_versions: dict[int, int]) -> int:
    from vehicles.models import SmartcarConnection

    rows = SmartcarConnection.objects.filter(pk__in=before_versions).values_list("pk", "token_version")
    return sum(1 for pk, version in rows if version > before_versions[pk])


def scenarios(stack: Stack, proxy) -> list[Outcome]:
    from django.db import close_old_connections

    from tests.vehicles import token_proxy as faults
    from vehicles.models import SmartcarConnection

    def rate(failures: list[str], probability: float) -> Callable[[], None]:
        def configure() -> None:
            proxy.failures, proxy.failure_rate = failures, probability

        return configure

    def mid_sweep(after: int, action: Callable[[], None]) -> Callable[[], int]:
        """Once `after` connections of this sweep are refreshed, do `action`."""

        def during() -> int:
            close_old_connections()
            versions = dict(SmartcarConnection.objects.values_list("pk", "token_version"))
            wait_until(lambda: refreshed_count(versions) >= after, 120, "the sweep to get going")
            action()
            return 1

        return during

    def slow_window() -> None:
        proxy.default, proxy.slow_seconds = faults.SLOW_BEYOND, HTTP_TIMEOUT + 2

    def end_slow_window_later() -> int:
        time.sleep(75)
        proxy.default = faults.PASS
        return 0

    def kill_worker_holding_answers() -> int:
        # Every answer is held from now on; once 8 refreshes have rotated at Smartcar, the whole worker dies.
        wait_until(lambda: len(proxy.calls) >= 8, 60, "8 refreshes in flight")
        stack.kill_worker()
        proxy.default = faults.PASS
        time.sleep(2)
        stack.start_worker()
        return 1

    def hold_answers() -> None:
        proxy.default = faults.LOSE_ANSWER

    def database_outage(seconds: int) -> Callable[[], None]:
        def action() -> None:
            stack.postgres.stop()
            time.sleep(seconds)
            stack.postgres.start()

        return action

    def kill_redis() -> None:
        stack.redis.kill()
        time.sleep(3)
        stack.redis.start()

    planned = [
        ("500/504 after rotating (30 %)", rate([faults.ROTATE_THEN_500, faults.ROTATE_THEN_504], 0.3)),
        (
            "reset after send, stalled body (30 %)",
            rate([faults.RESET_AFTER_SEND, faults.STALLED_BODY], 0.3),
        ),
        (
            "200 with a garbage or truncated body (10 %)",
            rate([faults.GARBAGE_200, faults.TRUNCATED_200], 0.1),
        ),
        ("lost answer, read timeout (30 %)", rate([faults.LOSE_ANSWER], 0.3)),
        ("slower than the HTTP timeout for 75 s", slow_window, end_slow_window_later),
        ("whole worker SIGKILLed holding 8 answers", hold_answers, kill_worker_holding_answers),
        (
            "whole worker SIGKILLed mid-sweep",
            lambda: None,
            mid_sweep(CONNECTIONS // 4, lambda: (stack.kill_worker(), time.sleep(2), stack.start_worker())),
        ),
        (
            "PostgreSQL down 25 s mid-sweep",
            lambda: None,
            mid_sweep(CONNECTIONS // 5, database_outage(25)),
        ),
        (
            "PostgreSQL down 90 s mid-sweep",
            lambda: None,
            mid_sweep(CONNECTIONS // 5, database_outage(90)),
        ),
        ("Redis killed mid-sweep", lambda: None, mid_sweep(CONNECTIONS // 5, kill_redis)),
    ]
    # FAULTS_ONLY=worker (a part of a scenario's name) runs only the scenarios that match, while working on one.
    only = os.environ.get("FAULTS_ONLY", "")
    return [run_scenario(stack, proxy, *scenario) for scenario in planned if only in scenario[0]]


def main() -> int:
    from tests.vehicles.token_proxy import TokenProxy

    # Ctrl-C or a CI timeout still stops every server this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="faults."))
    os.chmod(workdir, 0o755)  # noqa: S103 - PostgreSQL's user must reach its folder
    proxy_port = free_port()
    started = time.monotonic()
    stack = start_stack(workdir, proxy_port)
    try:
        os.environ.update(stack.app_env)
        import django

        django.setup()
        upstream = f"{stack.emulator_url}/auth/oauth/token"
        with TokenProxy(upstream, hold_seconds=60, seed=15, port=proxy_port) as proxy:
            log(f"stack up in {time.monotonic() - started:.0f} s; connecting {CONNECTIONS} cars")
            make_connections(CONNECTIONS)
            log(f"{CONNECTIONS} connections in {time.monotonic() - started:.0f} s")
            outcomes = scenarios(stack, proxy)
    finally:
        stack.stop()
        worker_log = workdir / "worker.log"
        if worker_log.exists():
            # The last of the worker's log, for a run that failed on CI.
            tail = worker_log.read_text(errors="replace").splitlines()[-40:]
            log("worker log, last lines:\n" + "\n".join(tail))
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(outcomes)
    log(f"whole run {time.monotonic() - started:.0f} s")
    return 1 if any(outcome.lost or outcome.dead_active for outcome in outcomes) else 0


def print_table(outcomes: list[Outcome]) -> None:
    print()  # noqa: T201
    header = (
        "| fault | connections | faults | lost | active with a dead token | kept in memory | finished by another | s |"
    )
    print(header)  # noqa: T201
    print("|---|---|---|---|---|---|---|---|")  # noqa: T201
    for o in outcomes:
        row = f"| {o.name} | {o.connections} | {o.faults} | {o.lost} | {o.dead_active} | {o.kept} | {o.adopted} |"
        print(f"{row} {o.seconds:.0f} |")  # noqa: T201


if __name__ == "__main__":
    sys.exit(main())
