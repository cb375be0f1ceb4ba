"""Small helpers shared by the test suites."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from django.apps import apps as django_apps
from django.db import connection as db_connection

from config.celery import app as celery_app
from smartcar_emulator.permissions import PERMISSIONS


def query_of(url: str) -> dict[str, str]:
    """The query string of `url` as a dict of single values."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def local_path(url: str) -> str:
    """`url` without scheme and host, for Django's test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


# The migration that makes the support staff's group, and the code that makes it.
SUPPORT_MIGRATION = importlib.import_module("vehicles.migrations.0003_support_group")


def support_group():
    """The support staff's group as its migration made it; made again by the same code when a transactional test
    emptied the tables."""
    from django.contrib.auth.models import Group

    if not Group.objects.filter(name=SUPPORT_MIGRATION.SUPPORT_GROUP).exists():
        SUPPORT_MIGRATION.create_support_group(django_apps, db_connection.schema_editor())
    return Group.objects.get(name=SUPPORT_MIGRATION.SUPPORT_GROUP)


# Every permission the emulator serves (the quick start asks for all of them, see config/settings/local.py).
ALL_SCOPES = list(PERMISSIONS)


def in_threads(target: Callable[[], None], count: int, *, timeout: float = 60) -> None:
    """Run `target` in `count` threads released together, each closing its own database connection at the end."""
    barrier = threading.Barrier(count)

    def run() -> None:
        try:
            barrier.wait()
            target()
        finally:
            db_connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)


@dataclass
class QueuedTask:
    name: str
    args: list
    kwargs: dict
    headers: dict


def take_queued_tasks(queues: list[str] | None = None) -> list[QueuedTask]:
    """The tasks waiting in Redis, queue by queue in the order they were queued, taken off the queues: those the
    application's workers consume, or `queues`."""
    found = []
    with celery_app.connection_for_read() as broker:
        for name in queues or [queue.name for queue in celery_app.conf.task_queues]:
            queue = broker.SimpleQueue(name)
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                message.ack()
                args, kwargs, _ = message.decode()
                found.append(QueuedTask(message.headers["task"], args, kwargs, message.headers))
            queue.close()
    return found
