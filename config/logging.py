"""Production logging: one JSON object per line on stdout, with the request id, and secrets redacted."""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime

# The id of the request being served in this thread or task; set by config.middleware.RequestIdMiddleware.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

REDACTED = "[REDACTED]"

# Each pattern keeps its first group and replaces the rest of the match. They are deliberately broad: a log line
# with one word too many redacted costs little, a token in a log can cost someone control of their car.
# Secret keys: anything naming a password, secret or API key, and anything ending in "token" (but not token_version).
_CREDENTIAL_NAME = r"(?:\w*(?:password|passwd|secret|api_?key)\w*|\w*token)"
_REDACTIONS = [
    # Authorization headers in any spelling: "Authorization: Basic ...", "'HTTP_AUTHORIZATION': 'Bearer ...'".
    re.compile(r"""((?:HTTP_)?authorization['"]?\s*[:=]\s*['"]?)[^'"\r\n,}]+""", re.IGNORECASE),
    # Bearer tokens wherever they appear.
    re.compile(r"(\bbearer\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE),
    # key=value in query strings and form bodies: OAuth codes, tokens, passwords.
    re.compile(rf"(\b(?:code|{_CREDENTIAL_NAME})=)[^&\s'\"]+", re.IGNORECASE),
    # "key": "value" and 'key': 'value' in JSON and in the repr of a dict.
    re.compile(rf"""(['"]{_CREDENTIAL_NAME}['"]\s*:\s*['"])[^'"]*""", re.IGNORECASE),
    # The password in a URL such as postgres://user:password@host/db.
    re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+(?=@)", re.IGNORECASE),
    # The token in a password-reset link, /accounts/reset/<uidb64>/<token>/, valid for hours until it is used.
    re.compile(r"(/reset/[\w-]+/)[0-9a-z]+-[0-9a-f]{20,}", re.IGNORECASE),
]


def redact(text: str) -> str:
    for pattern in _REDACTIONS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's message and traceback with anything that looks like a credential replaced.

    Attached to the handler, so that it sees the records of every logger, Django's, Celery's and the HTTP
    libraries' included."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is the handler's to report, not the caller's problem
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name in JsonFormatter.EXTRA_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the request or task id, and the traceback."""

    # Fields that code may pass with `extra=` and that belong in the line (the request log's).
    EXTRA_FIELDS = ("method", "path", "status", "duration_ms")

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        current_request_id = request_id.get()
        if current_request_id:
            line["request_id"] = current_request_id
        task_id = _current_task_id()
        if task_id:
            line["task_id"] = task_id
        for name in self.EXTRA_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, default=str)


def _current_task_id() -> str | None:
    # Imported here: gunicorn's master process loads this module for its own logs before Django is set up.
    from celery import current_task

    request = getattr(current_task, "request", None)
    return getattr(request, "id", None)


def logging_config(level: str) -> dict:
    """A LOGGING dict that sends every record through the redaction filter to stdout as JSON."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "config.logging.RedactSecretsFilter"}},
        "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "filters": ["redact"],
                "formatter": "json",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
    }


def quiet_shutdown_notice(sender, **kwargs) -> None:
    """On worker_ready: Celery's SIGTERM handler put back without its plain-text notice ("worker: Warm shutdown"),
    which it writes straight to the process's stdout, past logging; log_shutdown says it as a JSON line instead."""
    from celery.apps.worker import install_worker_term_handler

    install_worker_term_handler(sender.controller, verbose=False)


def log_shutdown(sig: str, how: str, **kwargs) -> None:
    """On worker_shutting_down: the notice Celery would have printed, as a log record."""
    logging.getLogger("celery.apps.worker").info("%s shutdown on %s: finishing the tasks in hand", how, sig)
