"""A worker keeps its PostgreSQL connection across tasks (a new one per task cost more CPU than a refresh), yet
never carries a broken one into the next task, and a task run inline leaves its caller's connection alone."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection, transaction

from config.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)

backend_pids: list[int] = []


@celery_app.task(name="tests.config.record_backend_pid")
def record_backend_pid() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend_pids.append(cursor.fetchone()[0])


def run_once() -> int:
    """Publishes the task, waits for the worker to run it; the backend pid it used."""
    count = len(backend_pids)
    record_backend_pid.delay()
    deadline = time.monotonic() + 20
    while len(backend_pids) == count:
        assert time.monotonic() < deadline, "the worker did not run the task"
        time.sleep(0.02)
    return backend_pids[-1]


@pytest.fixture(autouse=True)
def empty_queue():
    celery_app.control.purge()
    backend_pids.clear()


def test_tasks_in_one_worker_share_one_database_connection():
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        pids = [run_once() for _ in range(4)]
    assert len(set(pids)) == 1


def test_a_connection_killed_between_tasks_is_replaced_before_the_next_task_uses_it():
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        first = run_once()
        # What a PostgreSQL restart or failover does to the worker's connection.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [first])
        second, third = run_once(), run_once()
    assert second != first
    assert third == second


def test_a_task_run_inline_leaves_the_callers_transaction_open():
    with transaction.atomic():
        record_backend_pid.apply()
        assert connection.in_atomic_block
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
