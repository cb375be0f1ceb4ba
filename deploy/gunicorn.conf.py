"""Gunicorn settings for the image's web command: where it listens, how many workers, and JSON logs."""

from __future__ import annotations

import os

from config.logging import logging_config

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# WEB_CONCURRENCY is gunicorn's own variable: processes per container, more with more cores. Each runs a few
# threads, because a request may spend seconds waiting on Smartcar.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 4
# Above SMARTCAR_WEB_TIME_BUDGET (20 s), so that a slow Smartcar ends in a message to the person, not a killed worker.
timeout = 60
graceful_timeout = 30
# The default heartbeat folder may sit on a slow overlay filesystem; memory is what gunicorn's docs advise.
worker_tmp_dir = "/dev/shm"  # noqa: S108 - a folder gunicorn needs, not a file it trusts
# Nothing here drives gunicorn at run time; its control socket would only need a writable home folder.
control_socket_disable = True
# Gunicorn's own messages go out as the same JSON lines as Django's. Requests are logged by
# config.middleware.RequestIdMiddleware, with their request id, so gunicorn's access log is dropped.
_level = os.environ.get("DJANGO_LOG_LEVEL", "INFO")
logconfig_dict = {
    **logging_config(_level),
    "loggers": {
        "gunicorn.error": {"level": _level, "handlers": [], "propagate": True},
        "gunicorn.access": {"handlers": [], "propagate": False},
    },
}
