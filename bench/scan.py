"""The due-connection scan at 10k and 1M bulk-inserted connections with the same number due, and the fan-out's own
cost for 10k due connections."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from bench.stats import median
from vehicles import tasks
from vehicles.fields import encrypt
from vehicles.services import tokens

# As many connections due in the small table as in the big one (about one sweep's worth for 12,000 people), each on a
# table page of its own in both (a page holds about 15 connections), so that only the table's size differs: the scan
# should cost what it returns, not what the table holds.
DUE = 500
FANOUT_DUE = 10_000
FANOUT_REPETITIONS = 2
# The small table's copy, kept while the large one fills the application's database (bench/settings.py).
SMALL_ALIAS = "scan_small"
TIMINGS = 40
EXPLAINS = 15


@dataclass
class Scan:
    rows: int
    due: int
    seconds: list[float]
    plan: str
    sql: str
    execution_ms: list[float]


@dataclass(frozen=True)
class Fanout:
    due: int
    seconds: list[float]
    cpu_seconds: list[float]
    queued: list[int]


def fill(rows: int, *, due: int, using: str = "default") -> None:
    """Replace every connection with `rows` bulk-inserted ones, `due` of them due and spread over the whole table:
    most by the access token's expiry, one in ten by the refresh token's age. One in twenty needs reconnecting (long
    expired, and never due). The others expire 40 minutes to 2 hours from now, as after a refresh."""
    stride = rows // due
    owner = User.objects.using(using).create(
        email=f"scan{rows}@bench.example", password=make_password("bench-password")
    )
    ciphertext = encrypt("a-token-of-realistic-length-00000000-0000-0000-0000-000000000000")
    with connections[using].cursor() as cursor:
        cursor.execute("TRUNCATE vehicles_vehiclecommand, vehicles_vehicle, vehicles_smartcarconnection CASCADE")
        cursor.execute(
            """
            INSERT INTO vehicles_smartcarconnection (
                owner_id, smartcar_user_id, auth, access_token, refresh_token, access_expires_at,
                refresh_expires_at, scopes, status, token_version, connected_at, last_error, updated_at
            )
            SELECT
                %(owner)s, 'scan-' || g, 'vehicle-tokens', %(ciphertext)s, %(ciphertext)s,
                CASE
                    WHEN g %% 20 = 7 THEN now() - interval '30 days'
                    WHEN g %% %(stride)s = 0 AND (g / %(stride)s) %% 10 <> 0
                        THEN now() + random() * interval '25 minutes'
                    ELSE now() + interval '40 minutes' + random() * interval '80 minutes'
                END,
                CASE
                    WHEN g %% %(stride)s = 0 AND (g / %(stride)s) %% 10 = 0 THEN now() + interval '5 days'
                    ELSE now() + interval '11 days' + random() * interval '49 days'
                END,
                '["read_vehicle_info"]'::jsonb,
                CASE WHEN g %% 20 = 7 THEN 'needs_reauth' ELSE 'active' END,
                1, now(), '', now()
            FROM generate_series(1, %(rows)s) AS g
            """,
            {"owner": owner.pk, "ciphertext": ciphertext, "stride": stride, "rows": rows},
        )
    vacuum_analyze(using)


def vacuum_analyze(using: str = "default") -> None:
    # What autovacuum would have done by the time beat looks; done now so it cannot land in the middle of a timing.
    with connections[using].cursor() as cursor:
        cursor.execute("VACUUM ANALYZE vehicles_smartcarconnection")


def measure_scan(rows: int) -> Scan:
    tokens.due_connection_ids()  # warm the cache, as a table scanned every five minutes is
    seconds = []
    for _ in range(TIMINGS):
        started = time.perf_counter()
        due = tokens.due_connection_ids()
        seconds.append(time.perf_counter() - started)
    with CaptureQueriesContext(connection) as queries:
        tokens.due_connection_ids()
    (query,) = queries.captured_queries
    execution_ms, plan = [], ""
    for _ in range(EXPLAINS):
        plan, milliseconds = explain(query["sql"])
        execution_ms.append(milliseconds)
    return Scan(rows=rows, due=len(due), seconds=seconds, plan=plan, sql=query["sql"], execution_ms=execution_ms)


def explain(sql: str, using: str = "default") -> tuple[str, float]:
    """The plan and the execution time in milliseconds, as PostgreSQL measured them."""
    with connections[using].cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return plan, float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1))


def interleave(sql: str, small: Scan, large: Scan, *, small_alias: str) -> None:
    """The query's time on both tables at once, alternating (the small one lives in a database of its own meanwhile),
    so that the machine's ups and downs fall on both alike; replaces the plans and execution times measured one after
    the other."""
    small.execution_ms, large.execution_ms = [], []
    for _ in range(EXPLAINS):
        small.plan, milliseconds = explain(sql, small_alias)
        small.execution_ms.append(milliseconds)
        large.plan, milliseconds = explain(sql)
        large.execution_ms.append(milliseconds)


def make_more_due(total: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE vehicles_smartcarconnection SET access_expires_at = now() + interval '10 minutes'
            WHERE id IN (
                SELECT id FROM vehicles_smartcarconnection
                WHERE status = 'active' AND access_expires_at > now() + interval '35 minutes'
                    AND refresh_expires_at > now() + interval '11 days'
                ORDER BY random() LIMIT %s
            )
            """,
            [total - len(tokens.due_connection_ids())],
        )
    vacuum_analyze()


def measure_fanout(celery_app, *, repetitions: int) -> Fanout:
    """Beat's task run in this process (as a worker runs it) with no worker consuming: scan plus one publish per due
    connection. The queue is emptied after each repetition."""
    seconds, cpu, queued = [], [], []
    with celery_app.connection_for_write() as broker:
        client = broker.default_channel.client
        for _ in range(repetitions):
            client.delete("celery")
            started, cpu_started = time.perf_counter(), time.process_time()
            tasks.refresh_due_connections()
            seconds.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            queued.append(client.llen("celery"))
        client.delete("celery")
    return Fanout(due=median(queued), seconds=seconds, cpu_seconds=cpu, queued=queued)
