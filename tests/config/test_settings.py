from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_ENV_FILE": os.devnull,
    "DJANGO_SECRET_KEY": "k" * 20 + "a-long-random-production-secret-key-0123456789",
    "DJANGO_ALLOWED_HOSTS": "garage.example.com",
    "DATABASE_URL": "postgres://garage@db.example.com:5432/garage",
    "CELERY_BROKER_URL": "redis://redis.example.com:6379/0",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587",
    "TOKEN_ENCRYPTION_KEYS": "c2Vjb25kLXRlc3QtdG9rZW4ta2V5LTMyLWJ5dGVzISE=",
    "SMARTCAR_CLIENT_ID": "production-client-id",
    "SMARTCAR_CLIENT_SECRET": "production-client-secret",
    "SMARTCAR_REDIRECT_URI": "https://garage.example.com/exchange",
    "SMARTCAR_MODE": "live",
}


def python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    return subprocess.run(  # noqa: S603 - our own code with fixed arguments
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return python("manage.py", *args, env=env)


def test_user_model_is_the_email_login_user():
    assert settings.AUTH_USER_MODEL == "accounts.User"


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_production_settings_pass_the_deploy_checks():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    "missing",
    [
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "EMAIL_URL",
        "TOKEN_ENCRYPTION_KEYS",
        "SMARTCAR_CLIENT_ID",
        "SMARTCAR_CLIENT_SECRET",
        "SMARTCAR_REDIRECT_URI",
    ],
)
def test_production_refuses_to_start_without_a_required_variable(missing):
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != missing}

    result = manage("check", env=env)

    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr


def test_production_refuses_to_start_with_the_emulator_on():
    # As gunicorn loads the application: system checks do not run there, so the settings themselves must refuse.
    result = python("-c", "import config.wsgi", env={**PRODUCTION_ENV, "SMARTCAR_EMULATOR": "true"})

    assert result.returncode != 0
    assert "ImproperlyConfigured: SMARTCAR_EMULATOR is on in production" in result.stderr
    assert "SMARTCAR_EMULATOR_ALLOWED_IN_PRODUCTION=true" in result.stderr


@pytest.mark.parametrize("mode", ["test", "simulated", None])
def test_production_refuses_to_start_in_a_mode_other_than_live(mode):
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != "SMARTCAR_MODE"}
    if mode:
        env["SMARTCAR_MODE"] = mode

    refused = python("-c", "import config.wsgi", env=env)
    allowed = python("-c", "import config.wsgi", env={**env, "SMARTCAR_TEST_MODE_ALLOWED_IN_PRODUCTION": "true"})

    assert refused.returncode != 0
    assert "SMARTCAR_MODE is" in refused.stderr
    assert "SMARTCAR_MODE=live" in refused.stderr
    assert allowed.returncode == 0, allowed.stderr


def test_an_unknown_auth_mode_stops_start_up_with_its_name():
    result = python("-c", "import config.wsgi", env={**PRODUCTION_ENV, "SMARTCAR_AUTH": "oauth"})

    assert result.returncode != 0
    assert "SMARTCAR_AUTH must be one of vehicle-tokens, application, not 'oauth'" in result.stderr
