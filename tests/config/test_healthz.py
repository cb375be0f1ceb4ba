from __future__ import annotations

import pytest
import redis
import time_machine
from django.conf import settings
from django.db import connections
from django.urls import reverse

from config.celery import app as celery_app
from config.health import HEARTBEAT_KEY
from config.tasks import beat_heartbeat

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


@pytest.fixture
def no_heartbeat():
    with redis.Redis.from_url(settings.CELERY_BROKER_URL) as client:
        client.delete(HEARTBEAT_KEY)
    yield
    with redis.Redis.from_url(settings.CELERY_BROKER_URL) as client:
        client.delete(HEARTBEAT_KEY)


def test_healthz_beat_is_ok_after_a_recent_heartbeat(client, no_heartbeat):
    with time_machine.travel("2026-03-01 12:00:00+00:00", tick=False):
        beat_heartbeat.apply()
    with time_machine.travel("2026-03-01 12:04:00+00:00", tick=False):
        response = client.get(reverse("healthz-beat"))

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"beat": {"ok": True, "last_run": "2026-03-01T12:00:00+00:00", "age_seconds": 240}},
    }
    assert "no-cache" in response["Cache-Control"]


def test_healthz_beat_reports_a_stale_heartbeat(client, no_heartbeat, settings):
    settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS = 300
    with time_machine.travel("2026-03-01 12:00:00+00:00", tick=False):
        beat_heartbeat.apply()
    with time_machine.travel("2026-03-01 12:05:01+00:00", tick=False):
        response = client.get(reverse("healthz-beat"))

    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["beat"] == {
        "ok": False,
        "error": "StaleHeartbeat",
        "last_run": "2026-03-01T12:00:00+00:00",
        "age_seconds": 301,
    }


def test_healthz_beat_reports_a_beat_that_never_ran(client, no_heartbeat):
    response = client.get(reverse("healthz-beat"))

    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == {"ok": False, "error": "NoHeartbeat", "last_run": None}


def test_healthz_beat_names_an_unreachable_broker(client, settings, unused_port):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{unused_port}/0"

    response = client.get(reverse("healthz-beat"))

    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == {"ok": False, "error": "ConnectionError"}
    assert str(unused_port) not in response.content.decode()


def test_healthz_stays_ok_while_beat_is_stopped(client, no_heartbeat):
    # A stopped beat must alert through /healthz/beat without taking web processes out of the load balancer.
    assert client.get(reverse("healthz-beat")).status_code == 503

    assert client.get(reverse("healthz")).status_code == 200


def test_heartbeat_is_kept_beside_the_filesystem_broker_in_the_quick_start(client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.RUN_DIR = tmp_path

    beat_heartbeat.apply()

    assert (tmp_path / "beat-heartbeat").exists()
    assert client.get(reverse("healthz-beat")).json()["checks"]["beat"]["ok"] is True


def test_beat_schedules_the_heartbeat():
    entry = settings.CELERY_BEAT_SCHEDULE["beat-heartbeat"]

    assert entry["task"] == beat_heartbeat.name == "config.tasks.beat_heartbeat"
    assert entry["schedule"] == settings.BEAT_HEARTBEAT_INTERVAL_SECONDS
    assert settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS > 2 * settings.BEAT_HEARTBEAT_INTERVAL_SECONDS
