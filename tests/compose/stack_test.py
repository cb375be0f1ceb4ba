"""The production stack on a real Docker daemon (`make compose-test`): the image built from the Dockerfile, the demo
(deploy/demo.env) brought up by docker-compose.yml under a project name of its own on free ports, and checked over
HTTP as a person and an operator would: every service healthy, sign-up and Connect through the emulator, a token
refresh run by the worker, beat's heartbeat, restarts of worker and web with work in hand, `down` and `up` keeping the
data, JSON logs. `down --volumes` removes everything at the end, however the run ends.

`make test` does not collect this file (it is not named test_*.py): it needs a Docker daemon and minutes.
The tests run in order, as one story: later ones use the person and the car the earlier ones connected.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.deploy.conftest import COMPOSE_FILE, DEMO_ENV, ROOT, dockerfile_instructions, env_file_values, submit

# Application services; db and redis besides.
APP_SERVICES = ("web", "worker", "beat", "emulator")
EMULATOR_CLIENT = ("emulator-client-id", "emulator-client-secret")
PASSWORD = "a long compose-test password"
# A `$` in a setting must reach the application as written, not be expanded by Compose.
SECRET_KEY = "compose-test-only-secret-key-with-$dollar-and-${braces}-signs-0123456789"
IMAGE = "garage:compose-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], object], *, timeout: float, interval: float = 0.5) -> object:
    """The first truthy value of `condition()` within `timeout` seconds; connection errors count as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
            if value:
                return value
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


@dataclass
class Stack:
    """The demo project on the Docker daemon: `docker compose` on it, and its web and emulator on this machine."""

    project: str
    env: dict[str, str]
    web: str
    emulator: str
    person: dict = field(default_factory=dict)

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess:
        command = ["docker", "compose", "--project-directory", str(ROOT), "--file", str(COMPOSE_FILE)]
        result = subprocess.run(  # noqa: S603 - the docker CLI with our own arguments
            [*command, "--env-file", str(DEMO_ENV), *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"docker compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def sql(self, query: str, **parameters: object) -> list[list[str]]:
        """Rows of a query run by psql in the db service; `:'name'` in the query is the parameter `name`."""
        variables = [f"--set={name}={value}" for name, value in parameters.items()]
        output = self.compose(
            "exec", "-T", "db", "psql", "--username", "garage", "--dbname", "garage", "--no-align", "--tuples-only",
            "--field-separator", "|", *variables, "--file", "-", stdin=query,
        ).stdout  # fmt: skip
        return [line.split("|") for line in output.splitlines()]

    def logs(self, service: str) -> list[str]:
        output = self.compose("logs", "--no-color", "--no-log-prefix", service).stdout
        return [line for line in output.splitlines() if line.strip()]

    def started_at(self, service: str) -> str:
        [container] = self.compose("ps", "--quiet", service).stdout.split()
        return subprocess.run(  # noqa: S603 - the docker CLI with our own arguments
            ["docker", "inspect", "--format", "{{.State.StartedAt}}", container],  # noqa: S607
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()

    def control(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        """The emulator's control API (docs/emulator.md)."""
        response = requests.request(
            method, f"{self.emulator}/emulator/control/{path}", json=body, auth=EMULATOR_CLIENT, timeout=30
        )
        assert response.ok, response.text
        return response


def docker_env() -> dict[str, str]:
    """This machine's environment without its Compose and project variables, with the classic builder (BuildKit
    would fetch its front end from Docker Hub)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "GARAGE_", "DJANGO_", "DATABASE_"))}
    return {**env, "DOCKER_BUILDKIT": "0"}


def require_docker(env: dict[str, str]) -> None:
    if shutil.which("docker") is None:
        pytest.fail("No docker CLI here: compose-test needs a Docker daemon with the Compose v2 plugin.")
    for command in (["docker", "info"], ["docker", "compose", "version"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
        if result.returncode != 0:
            pytest.fail(f"`{' '.join(command)}` failed: compose-test needs a Docker daemon.\n{result.stderr}")


def base_image_build_args(env: dict[str, str]) -> list[str]:
    """How to build on this daemon. The Dockerfile's pinned base image is used when the daemon has it, or can pull it
    (no stand-in here). Where Docker Hub cannot be reached, docker-stack's stand-in for the same minor version takes
    its place: tagged with the pinned name when it runs that very Python, otherwise passed under its own name."""

    def docker(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 - the docker CLI with our own arguments
            ["docker", *args],  # noqa: S607 - whichever docker CLI is on PATH
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    [argument] = [
        i.arguments for i in dockerfile_instructions() if i.keyword == "ARG" and "PYTHON_IMAGE=" in i.arguments
    ]
    pinned = argument.split("=", 1)[1]
    version = re.fullmatch(r"python:(\d+\.\d+)\.(\d+)-(.+)", pinned)
    stand_in = f"python:{version[1]}-{version[3]}"
    label = docker("image", "inspect", "--format", '{{ index .Config.Labels "docker-stack.stand-in" }}', stand_in)
    if docker("image", "inspect", pinned).returncode == 0 or label.returncode != 0 or not label.stdout.strip():
        return []
    python = docker("run", "--rm", stand_in, "python", "-c", "import platform; print(platform.python_version())")
    if python.stdout.strip() == f"{version[1]}.{version[2]}":
        docker("tag", stand_in, pinned)
        return []
    return ["--build-arg", f"PYTHON_IMAGE={stand_in}"]


def write_settings(path: Path, web_port: int, emulator_port: int) -> Path:
    """deploy/demo.env's application settings for this run: its ports, a `$` in the secret key, a heartbeat every 5 s
    (so that beat is healthy at its first health check)."""
    values = env_file_values(DEMO_ENV) | {
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "SMARTCAR_REDIRECT_URI": f"http://localhost:{web_port}/exchange",
        "SMARTCAR_EMULATOR_REDIRECT_URIS": f"http://localhost:{web_port}/exchange",
        "SMARTCAR_CONNECT_ORIGIN": f"http://localhost:{emulator_port}/emulator/connect",
        "BEAT_HEARTBEAT_INTERVAL_SECONDS": "5",
    }
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


def say(message: str) -> None:
    print(f"compose-test: {message}", flush=True)  # noqa: T201 - progress and timings in the CI log


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    began = time.monotonic()
    env = docker_env()
    require_docker(env)
    web_port, emulator_port = free_port(), free_port()
    project = f"garage-compose-test-{uuid.uuid4().hex[:8]}"
    settings = write_settings(tmp_path_factory.mktemp("compose") / "app.env", web_port, emulator_port)
    env |= {
        "COMPOSE_PROJECT_NAME": project,
        "GARAGE_ENV_FILE": str(settings),
        "GARAGE_IMAGE": IMAGE,
        "GARAGE_WEB_PORT": f"127.0.0.1:{web_port}",
        "GARAGE_EMULATOR_PORT": f"127.0.0.1:{emulator_port}",
    }
    stack = Stack(project, env, f"http://localhost:{web_port}", f"http://localhost:{emulator_port}")
    try:
        started = time.monotonic()
        stack.compose("build", *base_image_build_args(env), timeout=1200)
        size = subprocess.run(  # noqa: S603 - the docker CLI with our own arguments
            ["docker", "image", "inspect", "--format", "{{.Size}}", IMAGE],  # noqa: S607
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        say(f"built {IMAGE} in {time.monotonic() - started:.0f} s, {int(size) / 1e6:.0f} MB")
        started = time.monotonic()
        stack.compose("up", "--detach", "--wait", "--wait-timeout", "300", timeout=420)
        say(f"{project} up, every service healthy, in {time.monotonic() - started:.0f} s")
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", timeout=300, check=False)
        left = subprocess.run(  # noqa: S603 - the docker CLI with our own arguments
            ["docker", "volume", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={project}"],  # noqa: S607
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout.split()
        say(f"{project} down with its volumes; the whole run took {time.monotonic() - began:.0f} s")
        assert left == [], f"`down --volumes` left volumes behind: {left}"


def vehicles_listed(session: requests.Session, site: str) -> dict[int, str]:
    """The vehicles in the person's garage: their ids, each with its card's text."""
    page = session.get(f"{site}/vehicles/", timeout=30)
    assert page.status_code == 200, page.text
    rows = re.findall(r'<li class="car[^"]*"[^>]*>(.*?)</li>', page.text, flags=re.DOTALL)
    listed = {}
    for row in rows:
        link = re.search(r'href="/vehicles/(\d+)/"', row)
        if link:
            listed[int(link[1])] = " ".join(re.sub(r"<[^>]+>", " ", row).split())
    return listed


def sign_in(site: str, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{site}/accounts/login/", timeout=30)
    signed_in = submit(session, page, {"username": email, "password": PASSWORD})
    assert "/accounts/login/" not in signed_in.url, signed_in.text
    return session


def test_every_service_is_healthy(stack):
    services = [json.loads(line) for line in stack.compose("ps", "--all", "--format", "json").stdout.splitlines()]
    state = {service["Service"]: (service["State"], service["Health"], service["ExitCode"]) for service in services}

    assert state == {
        "db": ("running", "healthy", 0),
        "redis": ("running", "healthy", 0),
        "migrate": ("exited", "", 0),
        **dict.fromkeys(APP_SERVICES, ("running", "healthy", 0)),
    }


def test_a_dollar_sign_in_a_setting_reaches_the_application(stack):
    printed = stack.compose(
        "exec", "-T", "web", "python", "-c", "from django.conf import settings; print(settings.SECRET_KEY)"
    )

    assert printed.stdout.strip() == SECRET_KEY


def sign_up_and_open_connect(stack: Stack, email: str) -> tuple[requests.Session, requests.Response]:
    """A new person signs up and goes through Connect in the emulator up to the page where they approve their cars."""
    browser = requests.Session()
    signup = browser.get(f"{stack.web}/accounts/signup/", timeout=30)
    submit(browser, signup, {"email": email, "password1": PASSWORD, "password2": PASSWORD})
    brands = browser.get(f"{stack.web}/login", timeout=30)
    assert brands.url.startswith(f"{stack.emulator}/emulator/connect/oauth/authorize?")
    login = submit(browser, brands, {})
    return browser, submit(browser, login, {"username": email, "password": "anything"})


def assert_fleet_listed(fleet: list[dict], listed: dict[int, str]) -> None:
    assert len(listed) == len(fleet) >= 1
    for car in fleet:
        assert any(car["make"] in row and car["model"] in row for row in listed.values()), (car, listed)


def test_sign_up_connect_a_car_and_see_it_listed(stack):
    email = f"driver-{uuid.uuid4().hex[:8]}@example.com"
    fleet = stack.control("GET", f"users/{email}/vehicles").json()["vehicles"]
    browser, cars = sign_up_and_open_connect(stack, email)

    approved = submit(browser, cars, {}, button=1)

    assert approved.url == f"{stack.web}/vehicles/"
    listed = vehicles_listed(browser, stack.web)
    assert_fleet_listed(fleet, listed)
    stack.person.update(email=email, fleet=fleet, vehicles=sorted(listed))


def test_the_worker_runs_the_refresh_an_admin_asks_for(stack):
    [[connection_id, version]] = stack.sql(
        "SELECT c.id, c.token_version FROM vehicles_smartcarconnection c JOIN accounts_user u ON u.id = c.owner_id "
        "WHERE u.email = :'email'",
        email=stack.person["email"],
    )
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    stack.compose(
        "exec", "-T", "--env", f"DJANGO_SUPERUSER_PASSWORD={PASSWORD}", "web",
        "python", "manage.py", "createsuperuser", "--noinput", "--email", admin_email,
    )  # fmt: skip
    admin = sign_in(stack.web, admin_email)
    changelist = f"{stack.web}/admin/vehicles/smartcarconnection/"
    admin.get(changelist, timeout=30)

    queued = admin.post(
        changelist,
        data={
            "csrfmiddlewaretoken": admin.cookies["csrftoken"],
            "action": "refresh_now",
            "_selected_action": connection_id,
            "index": "0",
        },
        timeout=30,
    )

    assert queued.status_code == 200
    assert "Queued a refresh for 1 connection(s)." in queued.text
    moved = wait_until(
        lambda: (
            stack.sql("SELECT token_version FROM vehicles_smartcarconnection WHERE id = :'id'", id=connection_id)[0][0]
            != version
        ),
        timeout=60,
    )
    assert moved, stack.logs("worker")[-20:]
    assert task_lines(stack, "vehicles.tasks.refresh_connection", "succeeded"), stack.logs("worker")[-20:]


def test_beat_heartbeat_is_fresh(stack):
    response = requests.get(f"{stack.web}/healthz/beat", timeout=30)

    assert response.status_code == 200, response.text
    assert response.json()["checks"]["beat"]["age_seconds"] < 30


@contextlib.contextmanager
def slow_emulator(stack: Stack, latency_ms: dict[str, int]) -> Iterator[None]:
    """The emulator's vehicle API as slow as a car maker can be: each path named (docs/emulator.md, "" for every
    path) takes this many milliseconds, each call under SMARTCAR_HTTP_TIMEOUT (10 s)."""
    for path, milliseconds in latency_ms.items():
        stack.control("POST", "faults", {"path": path, "latency_ms": milliseconds})
    try:
        yield
    finally:
        stack.control("DELETE", "faults")


def task_lines(stack: Stack, task: str, event: str) -> list[dict]:
    """The worker's log records of `task` (its name) being received, or having succeeded."""
    return [
        record
        for record in map(json.loads, stack.logs("worker"))
        if record["message"].startswith(f"Task {task}[") and event in record["message"]
    ]


def data_fetched_at(stack: Stack, vehicle_id: int) -> str:
    [[fetched]] = stack.sql(
        "SELECT coalesce(data_fetched_at::text, '') FROM vehicles_vehicle WHERE id = :'id'", id=vehicle_id
    )
    return fetched


def test_restarting_the_worker_finishes_the_task_in_hand(stack):
    vehicle_id = stack.person["vehicles"][0]
    fetched_before = data_fetched_at(stack, vehicle_id)
    received_before = len(task_lines(stack, "vehicles.tasks.sync_vehicle", "received"))
    session = sign_in(stack.web, stack.person["email"])
    session.get(f"{stack.web}/vehicles/{vehicle_id}/", timeout=30)
    before = stack.started_at("worker")
    with slow_emulator(stack, {"": 5000}):
        asked = session.post(
            f"{stack.web}/vehicles/{vehicle_id}/refresh",
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
            timeout=30,
        )
        assert asked.status_code == 200
        received = wait_until(
            lambda: len(task_lines(stack, "vehicles.tasks.sync_vehicle", "received")) > received_before, timeout=30
        )
        assert received, stack.logs("worker")[-20:]
        restart_began = datetime.now(UTC)

        stack.compose("restart", "worker", timeout=180)

    assert stack.started_at("worker") != before
    fetched_after = data_fetched_at(stack, vehicle_id)
    assert fetched_after
    assert fetched_after != fetched_before
    # It finished after the restart began: the warm shutdown waited for the task in hand.
    succeeded = task_lines(stack, "vehicles.tasks.sync_vehicle", "succeeded")
    assert datetime.fromisoformat(succeeded[-1]["time"]) > restart_began, succeeded


def test_restarting_web_finishes_the_request_in_hand(stack):
    email = f"restart-{uuid.uuid4().hex[:8]}@example.com"
    fleet = stack.control("GET", f"users/{email}/vehicles").json()["vehicles"]
    browser, cars = sign_up_and_open_connect(stack, email)
    back_to_the_application = submit(browser, cars, {}, button=1, follow=False)
    answers: list[requests.Response | requests.RequestException] = []

    def exchange() -> None:
        try:
            url = back_to_the_application.headers["Location"]
            answers.append(browser.get(url, allow_redirects=False, timeout=60))
        except requests.RequestException as exc:
            answers.append(exc)

    before = stack.started_at("web")
    # /exchange then waits 12 s on Smartcar: longer than Docker's default 10 s between SIGTERM and SIGKILL, shorter
    # than gunicorn's graceful timeout and the web service's stop_grace_period.
    with slow_emulator(stack, {"user": 6000, "vehicles": 6000}):
        request = threading.Thread(target=exchange)
        request.start()
        time.sleep(2)

        stack.compose("restart", "web", timeout=180)
        request.join(timeout=60)

    assert stack.started_at("web") != before
    [answer] = answers
    assert isinstance(answer, requests.Response), answer
    assert (answer.status_code, answer.headers["Location"]) == (302, "/vehicles/")
    assert answer.elapsed.total_seconds() > 12
    # Back after the restart (a request meanwhile is refused, and retried here), with the cars connected.
    listed = wait_until(lambda: vehicles_listed(browser, stack.web), timeout=60)
    assert_fleet_listed(fleet, listed)


@pytest.mark.parametrize("service", ["migrate", *APP_SERVICES])
def test_every_process_logs_json_lines_only(stack, service):
    lines = stack.logs(service)

    not_json = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            not_json.append(line)
            continue
        assert {"time", "level", "logger", "message"} <= set(record), line
    assert not_json == []


def test_down_and_up_keep_people_and_their_vehicles(stack):
    stack.compose("down", timeout=300)
    stack.compose("up", "--detach", "--wait", "--wait-timeout", "300", timeout=420)

    session = sign_in(stack.web, stack.person["email"])
    listed = vehicles_listed(session, stack.web)
    assert sorted(listed) == stack.person["vehicles"]
    assert_fleet_listed(stack.person["fleet"], listed)
