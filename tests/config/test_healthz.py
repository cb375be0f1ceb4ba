from __future__ import annotations

import pytest
from django.db import connections
from django.urls import reverse

from config.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_is_ok_when_database_and_broker_answer(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": {"ok": True}, "broker": {"ok": True}}}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_names_an_unreachable_broker(client, monkeypatch, unused_port):
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", f"redis://127.0.0.1:{unused_port}/0")
    assert celery_app.conf.broker_url.endswith(f":{unused_port}/0")

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"] == "OperationalError"
    assert str(unused_port) not in response.content.decode()


def test_healthz_names_an_unreachable_database(client, monkeypatch, unused_port):
    default = connections["default"]
    broken = default.__class__({**default.settings_dict, "HOST": "127.0.0.1", "PORT": str(unused_port)}, "default")
    monkeypatch.setattr("config.health.connections", {"default": broken})

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert body["checks"]["broker"] == {"ok": True}


def test_healthz_refuses_other_methods(client):
    assert client.post(reverse("healthz")).status_code == 405
