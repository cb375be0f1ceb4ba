"""The Dockerfile, read instruction by instruction (its commands are run in tests/deploy/test_smoke.py)."""

from __future__ import annotations

import sys

from tests.deploy.conftest import ROOT, dockerfile_instructions, final_stage, image_command, image_healthcheck


def test_every_stage_uses_the_python_minor_version_the_suite_runs_on():
    [base] = [i.arguments for i in dockerfile_instructions() if i.keyword == "ARG" and i.arguments.startswith("PYTHON")]
    stages = [i.arguments for i in dockerfile_instructions() if i.keyword == "FROM"]

    assert base == f"PYTHON_IMAGE=python:{sys.version_info.major}.{sys.version_info.minor}-slim-bookworm"
    assert stages == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]


def test_only_the_pinned_production_requirements_are_installed():
    copies = [i.arguments for i in dockerfile_instructions() if i.keyword == "COPY" and "requirements" in i.arguments]
    installs = [i.arguments for i in dockerfile_instructions() if i.keyword == "RUN" and "pip install" in i.arguments]

    assert copies == ["requirements/production.txt /tmp/requirements.txt"]
    assert installs == ["/opt/venv/bin/pip install --no-deps -r /tmp/requirements.txt"]


def test_the_runtime_runs_as_an_unprivileged_user():
    users = [i.arguments for i in final_stage() if i.keyword == "USER"]

    assert users == ["garage"]
    # Everything after USER runs as that user: the build steps that write come before it.
    keywords = [i.keyword for i in final_stage()]
    assert keywords.index("USER") > max(index for index, keyword in enumerate(keywords) if keyword in {"RUN", "COPY"})


def test_web_is_gunicorn_with_the_image_health_check_on_healthz():
    assert image_command() == ["gunicorn", "--config", "deploy/gunicorn.conf.py", "config.wsgi"]
    assert image_healthcheck() == ["python", "deploy/healthcheck.py"]
    assert "/healthz" in (ROOT / "deploy" / "healthcheck.py").read_text()


def test_secrets_and_local_state_stay_out_of_the_build_context():
    ignored = set((ROOT / ".dockerignore").read_text().splitlines())

    assert {".env", ".env.*", ".git", ".venv", ".run", "*.sqlite3", "staticfiles", "tests"} <= ignored
