"""The Celery application, configured from Django settings prefixed with CELERY_."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutting_down

from config.logging import log_shutdown, quiet_shutdown_notice

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# DjangoTask adds delay_on_commit(): a task queued inside a transaction is published only if it commits.
app = Celery("config", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every line a worker writes is JSON: its shutdown notice too (config/logging.py).
worker_ready.connect(quiet_shutdown_notice)
worker_shutting_down.connect(log_shutdown)


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(task=None, **kwargs) -> None:
    """What Django does at the start and end of each web request: drop a connection that is broken or older than
    CONN_MAX_AGE, and health-check the next one before use. With CELERY_DB_REUSE_MAX set, Celery itself keeps the
    connection across tasks; this keeps a reused connection from outliving a PostgreSQL restart or failover."""
    if task is not None and getattr(task.request, "is_eager", False):
        # Run inline by its caller (tests, apply()): the caller's connection and transaction are not the task's.
        return
    from django.db import close_old_connections

    close_old_connections()
