"""The refresh pipeline (beat's task → Redis → prefork workers → PostgreSQL → the emulator) against a bare loop of the
SDK's `exchange_refresh_token` at the same concurrency, on the same emulator and the same number of refresh tokens."""

from __future__ import annotations

import logging
import multiprocessing
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Max
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
SCOPES = ["read_vehicle_info"]
EXPIRED = "expired"


@dataclass
class Cpu:
    """CPU seconds of the processes that matter, at one instant (or between two)."""

    worker_main: float
    worker_children: float
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
    repetition: int
    seconds: float
    count: int
    cpu: Cpu
    client_cpu: float = 0.0  # the SDK loop's own processes
    token_calls: int = 0
    failures: int = 0

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

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
        main = procs.own_cpu_seconds(self.worker_pid)
        return Cpu(
            worker_main=main,
            worker_children=procs.tree_cpu_seconds(self.worker_pid) - main,
            emulator=procs.tree_cpu_seconds(self.emulator_pid),
            redis=procs.cpu_seconds(self.redis_pid),
            postgres=procs.tree_cpu_seconds(self.postmaster_pid),
            harness_backend=procs.cpu_seconds(self.harness_backend_pid),
        )


def _emulator_account():
    return fleet.user_with_fleet(username="bench@example.com", now=clock.now())


def issue_refresh_tokens(count: int) -> list[str]:
    """`count` grants at the emulator, each with a fresh refresh token, bulk-inserted as the emulator's exchange_code
    leaves them (one by one through Connect would take most of the bench's time)."""
    account = _emulator_account()
    cars = list(account.vehicles.all())
    now = clock.now()
    tokens = [str(uuid.uuid4()) for _ in range(count)]
    with transaction.atomic(using=database_alias()):
        grants = Grant.objects.bulk_create(
            [
                Grant(user=account, client_id=settings.SMARTCAR_EMULATOR_CLIENT_ID, scopes=SCOPES, created_at=now)
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


def create_connections(refresh_tokens: list[str]) -> list[int]:
    """One user and one connection per refresh token, bulk-inserted; each connection already due."""
    account = _emulator_account()
    password = make_password("bench-password")
    users = User.objects.bulk_create(
        [User(email=f"refresh{number}@bench.example", password=password) for number in range(len(refresh_tokens))]
    )
    now = timezone.now()
    connections = SmartcarConnection.objects.bulk_create(
        [
            SmartcarConnection(
                owner=user,
                smartcar_user_id=str(account.smartcar_id),
                # Expired anyway: only the refresh token is ever used.
                access_token=EXPIRED,
                refresh_token=token,
                access_expires_at=now - timedelta(minutes=1),
                refresh_expires_at=now + timedelta(days=60),
                scopes=SCOPES,
            )
            for user, token in zip(users, refresh_tokens, strict=True)
        ]
    )
    return [each.pk for each in connections]


def _token_calls() -> int:
    return RequestLog.objects.filter(outcome="refresh_token").count()


def run_pipeline(*, celery_app, probes: Probes, ids: list[int], latency_ms: int, repetition: int = 0) -> Run:
    """Make every connection due, publish beat's task, and wait until every connection's token_version moved."""
    connections = SmartcarConnection.objects.filter(pk__in=ids)
    connections.update(access_expires_at=timezone.now() - timedelta(minutes=1))
    versions = set(connections.values_list("token_version", flat=True))
    if len(versions) != 1:
        raise RuntimeError(f"connections start at different token versions: {sorted(versions)[:5]}")
    (version,) = versions
    calls_before = _token_calls()
    before = probes.read()
    started = time.time()
    celery_app.send_task("vehicles.tasks.refresh_due_connections")
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while connections.filter(token_version__gt=version).count() < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the pipeline did not refresh {len(ids)} connections in {RUN_TIMEOUT_SECONDS} s")
        time.sleep(0.05)
    after = probes.read()
    finished = connections.aggregate(last=Max("last_refreshed_at"))["last"].timestamp()
    failures = connections.exclude(status=SmartcarConnection.Status.ACTIVE).count()
    failures += connections.exclude(last_error="").count()
    return Run(
        kind="pipeline",
        latency_ms=latency_ms,
        repetition=repetition,
        seconds=finished - started,
        count=len(ids),
        cpu=after.minus(before),
        token_calls=_token_calls() - calls_before,
        failures=failures,
    )


def _sdk_slice(job: tuple[str, str, str, str, list[str]]) -> tuple[list[str], float, int]:
    """In a pool process: the bare SDK, one AuthClient, each refresh token used once. New tokens, CPU, failures."""
    import requests
    import smartcar
    import smartcar.config
    import smartcar.helpers

    auth_origin, client_id, client_secret, redirect_uri, tokens = job
    # The application wraps the SDK's requests with a per-call timeout; the bare loop runs the SDK as shipped.
    smartcar.helpers.requests = requests
    smartcar.config.AUTH_ORIGIN = auth_origin
    client = smartcar.AuthClient(
        client_id=client_id, client_secret=client_secret, redirect_uri=redirect_uri, mode="test"
    )
    started = time.process_time()
    fresh, failures = [], 0
    for token in tokens:
        try:
            fresh.append(client.exchange_refresh_token(token).refresh_token)
        except smartcar.SmartcarException:
            failures += 1
    return fresh, time.process_time() - started, failures


class SdkLoop:
    """C processes, each running the bare SDK over its share of the refresh tokens."""

    def __init__(self, *, concurrency: int, tokens: list[str]) -> None:
        # Forked children never touch the database; closing the parent's connections first keeps them from
        # inheriting a live session.
        from django.db import connections

        connections.close_all()
        self.concurrency = concurrency
        self.tokens = tokens
        self.pool = multiprocessing.get_context("fork").Pool(concurrency, initializer=_default_signals)

    def run(self, *, probes: Probes, latency_ms: int, repetition: int) -> Run:
        shares = [self.tokens[index :: self.concurrency] for index in range(self.concurrency)]
        credentials = (settings.SMARTCAR_CLIENT_ID, settings.SMARTCAR_CLIENT_SECRET, settings.SMARTCAR_REDIRECT_URI)
        jobs = [(settings.SMARTCAR_AUTH_ORIGIN, *credentials, share) for share in shares]
        calls_before = _token_calls()
        before = probes.read()
        started = time.time()
        results = self.pool.map(_sdk_slice, jobs, chunksize=1)
        seconds = time.time() - started
        after = probes.read()
        self.tokens = [token for fresh, _, _ in results for token in fresh]
        return Run(
            kind="sdk",
            latency_ms=latency_ms,
            repetition=repetition,
            seconds=seconds,
            count=sum(len(share) for share in shares),
            cpu=after.minus(before),
            client_cpu=sum(cpu for _, cpu, _ in results),
            token_calls=_token_calls() - calls_before,
            failures=sum(failed for _, _, failed in results),
        )

    def close(self) -> None:
        # Not terminate(): a child killed while holding the task queue's lock left its siblings waiting on it for
        # ever, and join() with them. Every job has ended here; closing lets each child leave on its own.
        self.pool.close()
        self.pool.join()


def _default_signals() -> None:
    """In each SDK loop child: the bench's own handlers (SIGTERM raising SystemExit) are the parent's, not theirs."""
    import signal

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)


def harness_backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]
