"""docker-compose.yml, checked by the real Compose binary (there is no Docker engine here to run it)."""

from __future__ import annotations

import re
import runpy

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

    # Quiet: no report or banner in plain text among the JSON log lines (tests/compose checks every line).
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput", "--verbosity", "0"]
    # web runs the image's command, gunicorn (tests/deploy/test_dockerfile.py).
    assert services["web"].get("command") is None
    assert services["worker"]["command"][:5] == ["celery", "--quiet", "-A", "config", "worker"]
    assert services["beat"]["command"][:5] == ["celery", "--quiet", "-A", "config", "beat"]


def test_health_checks(production_env_file):
    services = resolved_config(production_env_file)["services"]

    # Only web answers HTTP: the image's /healthz check must not mark the others unhealthy.
    assert "healthcheck" not in services["web"]
    assert services["migrate"]["healthcheck"] == {"disable": True}
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
    # beat's heartbeat age, so that `up --wait` means every long-running service is healthy; the first heartbeat
    # comes a minute after start.
    assert services["beat"]["healthcheck"]["test"] == ["CMD", "python", "deploy/healthcheck.py", "beat"]
    assert services["beat"]["healthcheck"]["start_period"] == "2m0s"


def test_web_and_the_emulator_get_longer_to_stop_than_gunicorn_gives_a_request(production_env_file):
    services = resolved_config(production_env_file, "--profile", "demo")["services"]
    graceful_timeout = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))["graceful_timeout"]

    for name in ("web", "emulator"):
        assert seconds(services[name]["stop_grace_period"]) > graceful_timeout, name
    # A worker's warm shutdown waits for its tasks, which may run CELERY_TASK_TIME_LIMIT (90 s).
    assert seconds(services["worker"]["stop_grace_period"]) >= 90


def seconds(duration: str) -> int:
    minutes, _, rest = duration.rpartition("m")
    return int(minutes or 0) * 60 + int(rest.rstrip("s") or 0)


def test_app_containers_are_read_only_without_capabilities(production_env_file):
    services = resolved_config(production_env_file, "--profile", "demo")["services"]

    for name in (*APP_SERVICES, "emulator"):
        assert services[name]["read_only"] is True, name
        assert services[name]["tmpfs"] == ["/tmp"], name  # noqa: S108 - a tmpfs of its own in each container
        assert services[name]["cap_drop"] == ["ALL"], name


def test_every_container_rotates_its_logs_and_gains_no_privileges(production_env_file):
    services = resolved_config(production_env_file, "--profile", "demo")["services"]

    for name, service in services.items():
        assert service["logging"] == {"driver": "json-file", "options": {"max-size": "10m", "max-file": "5"}}, name
        assert service["security_opt"] == ["no-new-privileges:true"], name


def test_settings_reach_the_processes_as_written(tmp_path):
    # Compose would expand `$cd` and `${x}` to nothing, and strip the quotes.
    written = {"DJANGO_SECRET_KEY": "ab$cd${x}-'quoted'", "EMAIL_URL": 'smtp://mailer:pa"$$word@smtp.example.com'}
    app_env = write_env_file(tmp_path / "app.env", written)
    compose_env = write_env_file(tmp_path / "compose.env", {"POSTGRES_PASSWORD": "secret", "GARAGE_ENV_FILE": app_env})

    environment = resolved_config(compose_env)["services"]["web"]["environment"]

    # `config` prints a file Compose reads back, so each literal `$` comes out as `$$`.
    assert {name: environment[name].replace("$$", "$") for name in written} == written


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
    assert services["emulator"]["ports"][0]["host_ip"] == "127.0.0.1"
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
    "GARAGE_EMULATOR_PORT",
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


def test_the_demo_ports_move_with_compose_variables(tmp_path):
    env_file = write_env_file(
        tmp_path / "demo.env",
        {**env_file_values(DEMO_ENV), "GARAGE_WEB_PORT": "127.0.0.1:18000", "GARAGE_EMULATOR_PORT": "127.0.0.1:18001"},
    )

    services = resolved_config(env_file)["services"]

    assert [(p["host_ip"], p["published"]) for p in services["web"]["ports"]] == [("127.0.0.1", "18000")]
    assert [(p["host_ip"], p["published"]) for p in services["emulator"]["ports"]] == [("127.0.0.1", "18001")]
