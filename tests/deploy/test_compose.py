"""docker-compose.yml, checked by the real Compose binary (there is no Docker engine here to run it)."""

from __future__ import annotations

import re

from tests.config.test_env_example import variables_read_by_settings
from tests.deploy.conftest import (
    COMPOSE_FILE,
    DEMO_ENV,
    ROOT,
    env_file_values,
    resolved_config,
    run_compose,
    write_env_file,
)

APP_SERVICES = {"migrate", "web", "worker", "beat"}
PRODUCTION_TEMPLATE = ROOT / "deploy" / "production.env.example"


def test_compose_accepts_the_file(production_env_file):
    result = run_compose("config", "--quiet", env_file=production_env_file)

    assert result.returncode == 0, result.stderr


def test_compose_names_the_missing_database_password(tmp_path):
    result = run_compose("config", "--quiet", env_file=write_env_file(tmp_path / "empty.env", {}))

    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_compose_refuses_to_start_without_the_settings_file(tmp_path):
    missing = tmp_path / "missing.env"
    env_file = write_env_file(tmp_path / "compose.env", {"POSTGRES_PASSWORD": "secret", "GARAGE_ENV_FILE": missing})

    result = run_compose("config", "--quiet", env_file=env_file)

    assert result.returncode != 0
    assert f"{missing} not found" in result.stderr


def test_production_services_without_a_profile(production_env_file):
    services = resolved_config(production_env_file)["services"]

    assert set(services) == {"db", "redis", *APP_SERVICES}


def test_app_services_share_one_image_and_one_settings_file(production_env_file):
    services = resolved_config(production_env_file)["services"]

    assert {services[name]["image"] for name in APP_SERVICES} == {"garage:latest"}
    assert {services[name]["build"]["context"] for name in APP_SERVICES} == {str(ROOT)}
    # The settings reach every process from the env file.
    assert {services[name]["environment"]["DJANGO_SECRET_KEY"] for name in APP_SERVICES} == {"x" * 60}
    assert "image: ${GARAGE_IMAGE:-garage:latest}" in COMPOSE_FILE.read_text()
    assert re.search(r"^x-app: &app$", COMPOSE_FILE.read_text(), flags=re.MULTILINE)


def test_database_and_redis_have_volumes_and_health_checks(production_env_file):
    services = resolved_config(production_env_file)["services"]

    assert services["db"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert [volume["source"] for volume in services["db"]["volumes"]] == ["pgdata"]
    assert [volume["source"] for volume in services["redis"]["volumes"]] == ["redisdata"]


def test_web_worker_and_beat_wait_for_healthy_stores_and_finished_migrations(production_env_file):
    services = resolved_config(production_env_file)["services"]

    for name in ("web", "worker", "beat"):
        conditions = {dependency: spec["condition"] for dependency, spec in services[name]["depends_on"].items()}
        assert conditions == {
            "db": "service_healthy",
            "redis": "service_healthy",
            "migrate": "service_completed_successfully",
        }, name
    assert {name: spec["condition"] for name, spec in services["migrate"]["depends_on"].items()} == {
        "db": "service_healthy"
    }


def test_restart_policies(production_env_file):
    services = resolved_config(production_env_file)["services"]

    assert services["migrate"]["restart"] == "no"
    assert {services[name]["restart"] for name in ("db", "redis", "web", "worker", "beat")} == {"unless-stopped"}


def test_commands(production_env_file):
    services = resolved_config(production_env_file)["services"]

    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    # web runs the image's command, gunicorn (tests/deploy/test_dockerfile.py).
    assert services["web"].get("command") is None
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    # Only web answers HTTP: the image's /healthz check must not mark the others unhealthy.
    assert services["beat"]["healthcheck"] == {"disable": True}
    assert services["migrate"]["healthcheck"] == {"disable": True}
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])


def test_beat_cannot_be_scaled(production_env_file, tmp_path):
    assert "replicas" not in resolved_config(production_env_file)["services"]["beat"].get("deploy", {})
    two_beats = tmp_path / "two-beats.yml"
    two_beats.write_text("services:\n  beat:\n    deploy:\n      replicas: 2\n")

    result = run_compose("config", "--quiet", env_file=production_env_file, extra_files=(two_beats,))

    assert result.returncode != 0
    assert "container name must be unique" in result.stderr


def test_emulator_only_in_the_demo_profile(production_env_file):
    with_demo = resolved_config(production_env_file, "--profile", "demo")["services"]

    assert set(with_demo) == {"db", "redis", *APP_SERVICES, "emulator"}
    assert with_demo["emulator"]["profiles"] == ["demo"]
    assert with_demo["emulator"]["image"] == "garage:latest"
    assert with_demo["emulator"]["environment"]["SMARTCAR_EMULATOR"] == "true"
    assert with_demo["emulator"]["environment"]["SMARTCAR_EMULATOR_ALLOWED_IN_PRODUCTION"] == "true"


def test_demo_env_file_is_a_complete_demo_project():
    config = resolved_config(DEMO_ENV)
    services = config["services"]

    # Its own project (own volumes and container names), the demo profile on, the demo settings in every service.
    assert config["name"] == "garage-demo"
    assert set(services) == {"db", "redis", *APP_SERVICES, "emulator"}
    assert services["beat"]["container_name"] == "garage-demo-beat"
    for name in (*APP_SERVICES, "emulator"):
        environment = services[name]["environment"]
        assert environment["SMARTCAR_AUTH_ORIGIN"].startswith("http://emulator:8000/emulator/"), name
        assert environment["SMARTCAR_CONNECT_ORIGIN"].startswith("http://localhost:8001/emulator/"), name
    assert services["web"]["ports"][0]["published"] == "8000"
    assert services["emulator"]["ports"][0]["published"] == "8001"
    assert "SMARTCAR_EMULATOR" not in services["web"]["environment"]


def test_demo_database_password_matches_its_database_url():
    values = env_file_values(DEMO_ENV)

    assert f":{values['POSTGRES_PASSWORD']}@db:5432/" in values["DATABASE_URL"]


# Variables for Compose itself, and gunicorn's own, rather than for the settings.
NOT_SETTINGS = {
    "COMPOSE_PROJECT_NAME",
    "COMPOSE_PROFILES",
    "GARAGE_ENV_FILE",
    "GARAGE_WEB_PORT",
    "POSTGRES_PASSWORD",
    "WEB_CONCURRENCY",
}


def test_deploy_env_files_set_only_known_variables():
    known = variables_read_by_settings() | NOT_SETTINGS
    for path in (DEMO_ENV, PRODUCTION_TEMPLATE):
        names = set(env_file_values(path)) | set(re.findall(r"^# ([A-Z][A-Z0-9_]+)=", path.read_text(), re.MULTILINE))
        assert names - known == set(), path.name


def test_production_template_lists_every_required_variable():
    from tests.config.test_settings import PRODUCTION_ENV

    required = set(PRODUCTION_ENV) - {"DJANGO_SETTINGS_MODULE", "DJANGO_ENV_FILE"}

    assert required - set(env_file_values(PRODUCTION_TEMPLATE)) == set()
