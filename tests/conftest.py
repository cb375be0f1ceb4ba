"""Fixtures shared by the whole suite: people, clients signed in as them, and free ports."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable

import pytest
import redis
import requests
import smartcar.config
from django.conf import settings
from django.db import connection, connections
from kombu.utils.url import maybe_sanitize_url

from tests.factories import PASSWORD, UserFactory


def pytest_report_header(config) -> list[str]:
    db = settings.DATABASES["default"]
    return [
        f"database: {db['ENGINE'].rsplit('.', 1)[-1]} at {db.get('HOST') or 'local socket'}:{db.get('PORT') or ''}",
        f"broker: {maybe_sanitize_url(settings.CELERY_BROKER_URL)}",
    ]


SERVERS = pytest.StashKey[str]()


@pytest.fixture(scope="session", autouse=True)
def _record_server_versions(django_db_setup, django_db_blocker, request) -> None:
    """Ask the servers themselves what they are, so that the summary proves the suite ran on them."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        db_version = cursor.fetchone()[0].split(" on ")[0]
    broker_version = redis.Redis.from_url(settings.CELERY_BROKER_URL).info("server")["redis_version"]
    request.config.stash[SERVERS] = f"ran on {db_version} and Redis {broker_version}"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if SERVERS in config.stash:
        terminalreporter.write_line(config.stash[SERVERS])


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def alice(db):
    return UserFactory(email="alice@example.com", first_name="Alice")


@pytest.fixture
def bob(db):
    return UserFactory(email="bob@example.com", first_name="Bob")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def emulator(live_server, settings, monkeypatch) -> str:
    """The emulator in a live server, and both the application and the bare SDK pointed at it; its base URL."""
    base = f"{live_server.url}/emulator"
    origins = {
        "CONNECT_ORIGIN": f"{base}/connect",
        "AUTH_ORIGIN": f"{base}/auth/oauth/token",
        "API_ORIGIN": f"{base}/api",
        "VEHICLE_API_V3_ORIGIN": f"{base}/vehicle-api",
    }
    settings.SMARTCAR_IAM_TOKEN_URL = f"{base}/iam/oauth2/token"
    for name, url in origins.items():
        setattr(settings, f"SMARTCAR_{name}", url)
        # Tests that call the SDK directly; the application sets these itself from its settings.
        monkeypatch.setattr(smartcar.config, name.replace("_V3", ""), url)
    # The live server's request threads would keep persistent connections open past the test database's
    # teardown; closing them at the end of every request avoids that.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    return base


@pytest.fixture
def control(emulator) -> Callable[..., requests.Response]:
    """Call the control API with the emulator's client credentials."""
    credentials = f"{settings.SMARTCAR_EMULATOR_CLIENT_ID}:{settings.SMARTCAR_EMULATOR_CLIENT_SECRET}"
    headers = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}

    def call(method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{emulator}/control/{path}", headers=headers, timeout=10, **kwargs)

    return call


@pytest.fixture
def unused_port() -> int:
    """A loopback port with nothing listening on it: connections to it are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
