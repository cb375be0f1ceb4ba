"""An operator's mistake in the token lifecycle or history settings stops start-up, naming the setting: each of these
values would otherwise lose connections silently (a refresh token older than Smartcar's 60 days, an access token that
expires between two sweeps, a recovery that comes after Smartcar's one-minute grace) or throw data away."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks

ROOT = Path(__file__).resolve().parents[2]


def check_ids(settings, **values) -> set[str]:
    for name, value in values.items():
        setattr(settings, name, value)
    return {message.id for message in run_checks() if message.id.startswith("vehicles.")}


def test_the_defaults_pass(settings):
    assert not check_ids(settings) & {"vehicles.E010", "vehicles.E011", "vehicles.E012", "vehicles.E013"}


@pytest.mark.parametrize(
    ("values", "error"),
    [
        # Beat would send the sweep without pause.
        ({"TOKEN_REFRESH_INTERVAL_MINUTES": 0}, "vehicles.E010"),
        # A lead time no longer than the interval lets an access token expire between two sweeps.
        ({"TOKEN_REFRESH_INTERVAL_MINUTES": 30, "TOKEN_REFRESH_LEAD_TIME_MINUTES": 30}, "vehicles.E010"),
        # Smartcar's access tokens live 2 hours: a lead time of 2 hours makes every connection due at every sweep.
        ({"TOKEN_REFRESH_LEAD_TIME_MINUTES": 120}, "vehicles.E010"),
        # Smartcar's refresh tokens die unused after 60 days.
        ({"TOKEN_REFRESH_MAX_AGE_DAYS": 60}, "vehicles.E011"),
        ({"TOKEN_REFRESH_MAX_AGE_DAYS": 0}, "vehicles.E011"),
        # Recovery must reach Smartcar within the grace of about a minute.
        ({"TOKEN_RECOVERY_INTERVAL_SECONDS": 0}, "vehicles.E012"),
        ({"TOKEN_RECOVERY_INTERVAL_SECONDS": 31}, "vehicles.E012"),
        # Zero days of history would have the hourly prune delete every reading as it is written.
        ({"VEHICLE_HISTORY_DAYS": 0}, "vehicles.E013"),
    ],
)
def test_a_value_that_would_lose_connections_or_data_fails_the_check(settings, values, error):
    assert error in check_ids(settings, **values)


@pytest.mark.parametrize(
    "values",
    [
        {"TOKEN_REFRESH_INTERVAL_MINUTES": 1, "TOKEN_REFRESH_LEAD_TIME_MINUTES": 2},
        {"TOKEN_REFRESH_LEAD_TIME_MINUTES": 119},
        {"TOKEN_REFRESH_MAX_AGE_DAYS": 59},
        {"TOKEN_REFRESH_MAX_AGE_DAYS": 1},
        {"TOKEN_RECOVERY_INTERVAL_SECONDS": 1},
        {"TOKEN_RECOVERY_INTERVAL_SECONDS": 30},
        {"VEHICLE_HISTORY_DAYS": 1},
    ],
)
def test_the_edges_of_what_works_pass(settings, values):
    assert not check_ids(settings, **values) & {"vehicles.E010", "vehicles.E011", "vehicles.E012", "vehicles.E013"}


def test_manage_py_refuses_to_start_naming_the_setting():
    """What migrate (the stack's first service) and the dev server run: the process stops, and says what to fix."""
    environment = {**os.environ, "TOKEN_REFRESH_MAX_AGE_DAYS": "60", "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "vehicles.E011" in result.stderr
    assert "TOKEN_REFRESH_MAX_AGE_DAYS" in result.stderr
