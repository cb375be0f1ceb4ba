"""The Dockerfile, read instruction by instruction (its commands are run in tests/deploy/test_smoke.py)."""

from __future__ import annotations

import platform

from tests.deploy.conftest import ROOT, dockerfile_instructions, final_stage, image_command, image_healthcheck


def test_every_stage_uses_the_python_patch_version_the_suite_runs_on():
    [base] = [i.arguments for i in dockerfile_instructions() if i.keyword == "ARG" and i.arguments.startswith("PYTHON")]
    stages = [i.arguments for i in dockerfile_instructions() if i.keyword == "FROM"]

    assert base == f"PYTHON_IMAGE=python:{platform.python_version()}-slim-bookworm"
    assert stages == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]


def test_no_syntax_directive_sends_the_build_to_a_registry():
    assert not (ROOT / "Dockerfile").read_text().startswith("# syntax=")


def test_only_the_pinned_production_requirements_are_installed_by_hash_into_a_virtualenv_without_pip():
    copies = [i.arguments for i in dockerfile_instructions() if i.keyword == "COPY" and "requirements" in i.arguments]
    runs = [i.arguments for i in dockerfile_instructions() if i.keyword == "RUN" and "/opt/venv" in i.arguments]

    assert copies == ["requirements/production.txt /tmp/requirements.txt"]
    assert runs == [
        "python -m venv --without-pip /opt/venv",
        "python -m pip --python /opt/venv/bin/python install --no-deps --require-hashes -r /tmp/requirements.txt",
    ]
    assert "--hash=sha256:" in (ROOT / "requirements" / "production.txt").read_text()


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

    assert {".env", ".env.*", ".git", ".venv", ".run", "*.sqlite3", "staticfiles", "tests", "bench"} <= ignored
