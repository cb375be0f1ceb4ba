"""Production logs: JSON lines with the request id, nothing that looks like a credential."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils.log import configure_logging

from config.celery import app as celery_app
from config.logging import REDACTED, logging_config, redact, request_id
from config.middleware import RequestIdMiddleware


@celery_app.task(name="tests.deploy.log_inside_a_task")
def log_inside_a_task() -> None:
    logging.getLogger("vehicles.tasks").info("inside a task")


@pytest.fixture
def log_output(monkeypatch) -> io.StringIO:
    """The production logging configuration, writing to a buffer instead of stdout."""
    buffer = io.StringIO()
    monkeypatch.setattr("sys.stdout", buffer)
    logging.config.dictConfig(logging_config("INFO"))
    yield buffer
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("secret", "logged"),
    [
        ("GET /exchange?code=4c3f0e&state=abc", f"GET /exchange?code={REDACTED}&state=abc"),
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig", f"Authorization: {REDACTED}"),
        ("{'HTTP_AUTHORIZATION': 'Basic Y2xpZW50OnNlY3JldA=='}", f"{{'HTTP_AUTHORIZATION': '{REDACTED}'}}"),
        ("sent bearer abc.def-ghi", f"sent bearer {REDACTED}"),
        ("grant_type=refresh_token&refresh_token=r-123", f"grant_type=refresh_token&refresh_token={REDACTED}"),
        ('{"access_token": "a-1", "expires_in": 7200}', f'{{"access_token": "{REDACTED}", "expires_in": 7200}}'),
        ("password=hunter2&password2=hunter2", f"password={REDACTED}&password2={REDACTED}"),
        ("{'client_secret': 's'}", f"{{'client_secret': '{REDACTED}'}}"),
        ("postgres://garage:pw@db:5432/garage", f"postgres://garage:{REDACTED}@db:5432/garage"),
        ("GET /accounts/reset/MQ/cz5k1x-0f3e2d1c0b9a8f7e6d5c4b3a/", f"GET /accounts/reset/MQ/{REDACTED}/"),
    ],
)
def test_redact_hides_credentials(secret, logged):
    assert redact(secret) == logged


@pytest.mark.parametrize(
    "harmless",
    [
        "refresh succeeded connection_id=7 token_version=3",
        "error_code=invalid_grant",
        "http://localhost:8000/accounts/login/",
        "authorization failed for connection_id=7",
    ],
)
def test_redact_keeps_what_is_not_a_credential(harmless):
    assert redact(harmless) == harmless


def test_records_are_json_lines_with_secrets_redacted(log_output):
    logging.getLogger("vehicles.smartcar_client").warning("token call failed: %s", {"refresh_token": "r-live-123"})

    [line] = lines(log_output)
    assert line["level"] == "WARNING"
    assert line["logger"] == "vehicles.smartcar_client"
    assert line["message"] == f"token call failed: {{'refresh_token': '{REDACTED}'}}"
    assert "r-live-123" not in log_output.getvalue()


def test_tracebacks_are_redacted_too(log_output):
    try:
        raise ValueError("token endpoint said: Authorization: Bearer live-token-123")
    except ValueError:
        logging.getLogger("vehicles").exception("refresh failed")

    [line] = lines(log_output)
    assert "ValueError" in line["exception"]
    assert "live-token-123" not in log_output.getvalue()


def test_request_id_is_kept_when_well_formed_and_logged_with_every_record(log_output):
    def view(request):
        logging.getLogger("vehicles.views").info("inside the view")
        return HttpResponse("ok")

    response = RequestIdMiddleware(view)(RequestFactory().get("/vehicles/", HTTP_X_REQUEST_ID="lb-7f3a.1"))

    assert response["X-Request-ID"] == "lb-7f3a.1"
    inside, summary = lines(log_output)
    assert inside["request_id"] == summary["request_id"] == "lb-7f3a.1"
    assert summary["message"] == "GET /vehicles/ 200"
    assert (summary["method"], summary["path"], summary["status"]) == ("GET", "/vehicles/", 200)
    assert isinstance(summary["duration_ms"], int)
    assert request_id.get() is None


@pytest.mark.parametrize("incoming", ["", "has spaces", "x" * 129, "evil\nForged: log line", "naïve"])
def test_a_malformed_request_id_is_replaced(incoming):
    response = RequestIdMiddleware(lambda request: HttpResponse())(
        RequestFactory().get("/", HTTP_X_REQUEST_ID=incoming)
    )

    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32
    assert int(response["X-Request-ID"], 16) >= 0


def test_healthz_probes_are_logged_only_at_debug(log_output):
    RequestIdMiddleware(lambda request: HttpResponse())(RequestFactory().get("/healthz"))

    assert log_output.getvalue() == ""


def test_task_records_carry_the_task_id(log_output):
    log_inside_a_task.apply(task_id="task-42")

    [line] = [line for line in lines(log_output) if line["message"] == "inside a task"]
    assert line["task_id"] == "task-42"
