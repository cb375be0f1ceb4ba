"""The refresh pipeline (beat's task → Redis → one worker process running a threads pool → PostgreSQL → the emulator)
against a bare loop of the SDK's `exchange_refresh_token` with as many calls in flight (threads in one process), on
the same emulator and the same number of refresh tokens."""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from bench import procs
from smartcar_emulator import clock, fleet
from smartcar_emulator import services as emulator
from smartcar_emulator.models import Grant, RefreshToken, RequestLog
from smartcar_emulator.routers import database_alias
from vehicles.models import SmartcarConnection

logger = logging.getLogger("bench")

RUN_TIMEOUT_SECONDS = 180
# The share of a run's refreshes between which it is in its steady state: past the ramp-up (the first answers come one
# latency after the start) and before the end, where fewer refreshes are left than threads to make them (a sweep's
# last batches leave threads idle from about 84 % of it on, when the last batch is taken).
STEADY = (0.1, 0.8)
SCOPES = ["read_vehicle_info"]
UNUSED = "unused"


@dataclass
class Cpu:
    """CPU seconds of the processes that matter, at one instant (or between two)."""

    worker: float
    emulator: float
    redis: float
    # Every PostgreSQL server process, including those that ended (the postmaster counts what it reaped).
    postgres: float
    harness_backend: float

    def minus(self, other: Cpu) -> Cpu:
        return Cpu(*(getattr(self, name) - getattr(other, name) for name in self.__dataclass_fields__))


@dataclass
class Run:
    kind: str  # "pipeline" or "sdk"
    latency_ms: int
    # Calls to Smartcar in flight at most: the worker's threads, or the SDK loop's.
    in_flight: int
    repetition: int
    seconds: float
    count: int
    cpu: Cpu
    # When each refresh ended (epoch seconds).
    completions: list[float]
    client_cpu: float = 0.0  # the SDK loop's own process
    token_calls: int = 0
    failures: int = 0

    @property
    def per_second(self) -> float:
        """Over the whole run, from the publish (or the loop's start) to the last refresh."""
        return self.count / self.seconds

    @property
    def steady_per_second(self) -> float:
        """While every thread had a refresh to make: the rate one process sustains, whatever the run's size."""
        times = sorted(self.completions)
        first, last = (int(share * (len(times) - 1)) for share in STEADY)
        return (last - first) / (times[last] - times[first])

    def tenths(self) -> list[float]:
        """The rate in each tenth of the run's refreshes, the first from the start."""
        times = [self.completions[-1] - self.seconds, *sorted(self.completions)]
        bounds = [round(tenth * self.count / 10) for tenth in range(11)]
        return [(b - a) / (times[b] - times[a]) for a, b in itertools.pairwise(bounds)]

    def ms(self, seconds: float) -> float:
        """CPU seconds as milliseconds per refresh."""
        return 1000 * seconds / self.count

    @property
    def database_ms(self) -> float:
        """PostgreSQL CPU per refresh, less the harness's own polling."""
        return self.ms(self.cpu.postgres - self.cpu.harness_backend)


@dataclass
class Probes:
    """Where to read CPU time: the bench's processes and the servers with-test-services started."""

    worker_pid: int
    emulator_pid: int
    redis_pid: int
    postmaster_pid: int
    # The harness's own database session polls for completion; its CPU is not the pipeline's.
    harness_backend_pid: int

    def read(self) -> Cpu:
        return Cpu(
            worker=procs.tree_cpu_seconds(self.worker_pid),
            emulator=procs.tree_cpu_seconds(self.emulator_pid),
            redis=procs.cpu_seconds(self.redis_pid),
            postgres=procs.tree_cpu_seconds(self.postmaster_pid),
            harness_backend=procs.cpu_seconds(self.harness_backend_pid),
        )


def emulator_account():
    return fleet.user_with_fleet(username="bench@example.com", now=clock.now())


def issue_refresh_tokens(count: int, *, scopes: list[str] = SCOPES) -> list[str]:
    """`count` grants at the emulator, each with a fresh refresh token, bulk-inserted as the emulator's exchange_code
    leaves them (one by one through Connect would take most of the bench's time)."""
    account = emulator_account()
    cars = list(account.vehicles.all())
    now = clock.now()
    tokens = [str(uuid.uuid4()) for _ in range(count)]
    with transaction.atomic(using=database_alias()):
        grants = Grant.objects.bulk_create(
            [
                Grant(user=account, client_id=settings.SMARTCAR_EMULATOR_CLIENT_ID, scopes=scopes, created_at=now)
                for _ in range(count)
            ]
        )
        Grant.vehicles.through.objects.bulk_create(
            [Grant.vehicles.through(grant=grant, emulatedvehicle=car) for grant in grants for car in cars]
        )
        RefreshToken.objects.bulk_create(
            [
                RefreshToken(
                    token_hash=emulator.digest(token),
                    hint=emulator.hint(token),
                    grant=grant,
                    issued_at=now,
                    expires_at=now + emulator.REFRESH_LIFETIME,
                )
                for grant, token in zip(grants, tokens, strict=True)
            ]
        )
    return tokens


def create_connections(refresh_tokens: list[str], *, prefix: str = "refresh") -> list[int]:
    """One user and one connection per refresh token, bulk-inserted; none due until a run makes it so."""
    account = emulator_account()
    password = make_password("bench-password")
    users = User.objects.bulk_create(
        [User(email=f"{prefix}{number}@bench.example", password=password) for number in range(len(refresh_tokens))]
    )
    now = timezone.now()
    connections = SmartcarConnection.objects.bulk_create(
        [
            SmartcarConnection(
                owner=user,
                smartcar_user_id=str(account.smartcar_id),
                # Never used: a run makes the connection due, and only the refresh token goes to Smartcar.
                access_token=UNUSED,
                refresh_token=token,
                access_expires_at=now + timedelta(hours=2),
                refresh_expires_at=now + timedelta(days=60),
                scopes=SCOPES,
            )
            for user, token in zip(users, refresh_tokens, strict=True)
        ]
    )
    return [each.pk for each in connections]


def statements_per_refresh(connection_id: int) -> int:
    """The SQL statements one refresh sends, counted in-process: each is a round trip to PostgreSQL."""
    from django.test.utils import CaptureQueriesContext

    from vehicles.services import tokens

    make_due([connection_id])
    with CaptureQueriesContext(connection) as statements:
        tokens.refresh_due_connection(connection_id=connection_id)
    return len(statements)


def token_calls() -> int:
    """Refresh-token exchanges that reached the emulator's token endpoint."""
    return RequestLog.objects.filter(outcome="refresh_token").count()


def make_due(ids: list[int]) -> None:
    SmartcarConnection.objects.filter(pk__in=ids).update(access_expires_at=timezone.now() - timedelta(minutes=1))


def run_pipeline(
    *, celery_app, probes: Probes, ids: list[int], latency_ms: int, in_flight: int, repetition: int = 0
) -> Run:
    """Make every connection due, publish beat's task, and wait until every connection's token_version moved."""
    make_due(ids)
    connections = SmartcarConnection.objects.filter(pk__in=ids)
    versions = set(connections.values_list("token_version", flat=True))
    if len(versions) != 1:
        raise RuntimeError(f"connections start at different token versions: {sorted(versions)[:5]}")
    (version,) = versions
    calls_before = token_calls()
    before = probes.read()
    started = time.time()
    celery_app.send_task("vehicles.tasks.refresh_due_connections")
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while connections.filter(token_version__gt=version).count() < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the pipeline did not refresh {len(ids)} connections in {RUN_TIMEOUT_SECONDS} s")
        time.sleep(0.05)
    after = probes.read()
    completions = sorted(moment.timestamp() for moment in connections.values_list("last_refreshed_at", flat=True))
    failures = connections.exclude(status=SmartcarConnection.Status.ACTIVE).count()
    failures += connections.exclude(last_error="").count()
    return Run(
        kind="pipeline",
        latency_ms=latency_ms,
        in_flight=in_flight,
        repetition=repetition,
        seconds=completions[-1] - started,
        count=len(ids),
        cpu=after.minus(before),
        completions=completions,
        token_calls=token_calls() - calls_before,
        failures=failures,
    )


def _sdk_threads(job: tuple[str, str, str, str, int, list[str]]) -> tuple[list[str], list[float], float, int]:
    """In the SDK loop's process: the bare SDK, one AuthClient per thread, `in_flight` threads taking the refresh
    tokens in turn, each used once. New tokens, when each call ended, the process's CPU, failures."""
    import threading

    import requests
    import smartcar
    import smartcar.config
    import smartcar.helpers

    auth_origin, client_id, client_secret, redirect_uri, in_flight, tokens = job
    # The application wraps the SDK's requests with a per-call timeout and a session per thread; the bare loop runs
    # the SDK as shipped.
    smartcar.helpers.requests = requests
    smartcar.config.AUTH_ORIGIN = auth_origin
    local = threading.local()

    def exchange(token: str) -> tuple[str | None, float]:
        if not hasattr(local, "client"):
            local.client = smartcar.AuthClient(
                client_id=client_id, client_secret=client_secret, redirect_uri=redirect_uri, mode="test"
            )
        try:
            fresh = local.client.exchange_refresh_token(token).refresh_token
        except smartcar.SmartcarException:
            fresh = None
        return fresh, time.time()

    started = time.process_time()
    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        answers = list(pool.map(exchange, tokens))
    fresh = [token for token, _ in answers if token is not None]
    return fresh, sorted(ended for _, ended in answers), time.process_time() - started, len(answers) - len(fresh)


class SdkLoop:
    """One process with `in_flight` threads running the bare SDK over the refresh tokens."""

    def __init__(self, *, in_flight: int, tokens: list[str]) -> None:
        # The forked child never touches the database; closing the parent's connections first keeps it from
        # inheriting a live session.
        from django.db import connections

        connections.close_all()
        self.in_flight = in_flight
        self.tokens = tokens
        self.pool = multiprocessing.get_context("fork").Pool(1, initializer=_default_signals)

    def run(self, *, probes: Probes, latency_ms: int, repetition: int) -> Run:
        credentials = (settings.SMARTCAR_CLIENT_ID, settings.SMARTCAR_CLIENT_SECRET, settings.SMARTCAR_REDIRECT_URI)
        job = (settings.SMARTCAR_AUTH_ORIGIN, *credentials, self.in_flight, self.tokens)
        calls_before = token_calls()
        before = probes.read()
        started = time.time()
        fresh, completions, cpu, failures = self.pool.apply(_sdk_threads, (job,))
        seconds = completions[-1] - started
        after = probes.read()
        count = len(self.tokens)
        self.tokens = fresh
        return Run(
            kind="sdk",
            latency_ms=latency_ms,
            in_flight=self.in_flight,
            repetition=repetition,
            seconds=seconds,
            count=count,
            cpu=after.minus(before),
            completions=completions,
            client_cpu=cpu,
            token_calls=token_calls() - calls_before,
            failures=failures,
        )

    def close(self) -> None:
        # Not terminate(): a child killed while holding the task queue's lock left its siblings waiting on it for
        # ever, and join() with them. Every job has ended here; closing lets the child leave on its own.
        self.pool.close()
        self.pool.join()


def _default_signals() -> None:
    """In the SDK loop's child: the bench's own handlers (SIGTERM raising SystemExit) are the parent's, not its."""
    import signal

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)


def harness_backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]
