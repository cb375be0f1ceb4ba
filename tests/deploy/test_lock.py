"""requirements/production.txt on its own, installed as the image installs it (`pip install --no-deps`) into a fresh
virtualenv: every module web, worker and beat load must import there. The suite's own virtualenv holds the test tools
and their dependencies, so a package the lock lost is still found in it (pytest brought `packaging` in while the
image's worker and beat crashed without it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT, build_step, image_command, image_environment

LOCK = ROOT / "requirements" / "production.txt"

# What each process loads at start-up, beyond what Django's set-up imports: the service commands' entry points, the
# image's gunicorn configuration and its worker class (threads), the Celery pool, transport and beat scheduler the
# configuration names, the binary PostgreSQL driver (the image has no libpq), and the redis client the health checks
# use.
IMPORT_CHECK = """
import importlib
import sys

import django

django.setup()
for module in MODULES:
    importlib.import_module(module)

import psycopg
from celery.concurrency import get_implementation
from celery.utils.imports import symbol_by_name
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver
from gunicorn.app.wsgiapp import WSGIApplication

from config.celery import app

get_wsgi_application()
get_resolver().url_patterns
app.loader.import_default_modules()
get_implementation(app.conf.worker_pool)
symbol_by_name(app.conf.beat_scheduler)
with app.connection_for_write() as connection:
    print("transport", type(connection.transport).__module__)
# The image's command line, which gunicorn reads from sys.argv: its configuration file, then the application.
sys.argv = GUNICORN_ARGV
web = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]")
web.load()
print("gunicorn worker", web.cfg.worker_class.__module__)
print("psycopg", psycopg.pq.__impl__)
"""

MODULES = [
    "celery.bin.celery",
    "celery.bin.worker",
    "celery.bin.beat",
    "celery.bin.control",
    "celery.apps.worker",
    "celery.apps.beat",
    "celery.worker.consumer",
    "kombu.transport.redis",
    "redis",
    "gunicorn.workers.gthread",
    "whitenoise.middleware",
    "whitenoise.storage",
    "psycopg",
    "psycopg_binary",
    "config.wsgi",
    "config.celery",
    "config.health",
]


def fresh_virtualenv(path: Path, lock: Path) -> Path:
    """A virtualenv with nothing but `lock` in it, installed as the Dockerfile does; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=60)  # noqa: S603
    python = path / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    install = subprocess.run(  # noqa: S603 - pip on our own lock file
        [*pip, "install", "--quiet", "--no-deps", "--no-compile", "--requirement", str(lock)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return python


def run_in(python: Path, *args: str) -> subprocess.CompletedProcess:
    """`python args` as the image runs its services: the production settings with the Dockerfile's placeholder
    variables (the ones its collectstatic step uses, emulator included), nothing of this machine's Python."""
    placeholders, _ = build_step("collectstatic")
    env = {
        "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/nonexistent"),
        # Django's start-up messages would mix into what the check prints.
        "DJANGO_LOG_LEVEL": "WARNING",
        **image_environment(),
        **placeholders,
    }
    return subprocess.run(  # noqa: S603 - the fresh virtualenv's python on our own code
        [str(python), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def import_check(python: Path) -> subprocess.CompletedProcess:
    script = f"MODULES = {MODULES!r}\nGUNICORN_ARGV = {image_command()!r}\n{IMPORT_CHECK}"
    return run_in(python, "-c", script)


@pytest.fixture(scope="module")
def production_python(tmp_path_factory) -> Path:
    return fresh_virtualenv(tmp_path_factory.mktemp("lock") / "venv", LOCK)


def test_the_lock_alone_is_consistent(production_python):
    result = subprocess.run(  # noqa: S603 - pip's own check of what it installed
        [sys.executable, "-m", "pip", "--python", str(production_python), "check", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_every_module_the_services_load_imports_from_the_lock_alone(production_python):
    result = import_check(production_python)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "transport kombu.transport.redis",
        "gunicorn worker gunicorn.workers.gthread",
        "psycopg binary",
    ]
