"""Smartcar's own python-sdk end-to-end suite (its tests/e2e), run against the emulator.

    .venv/bin/python tests/smartcar_emulator/sdk_e2e.py PATH/TO/python-sdk [pytest options]

This runner downloads nothing and the suite is not part of this repository: PATH/TO/python-sdk is a checkout of the
public repository smartcar/python-sdk. The runner starts a throwaway emulator (local settings, SQLite files in a
temporary directory, a free port), points the SDK at it through the SMARTCAR_*_ORIGIN variables the SDK reads, and
runs the suite with the SDK of the same checkout (the suite imports modules that SDK 6.19.1 has renamed), unchanged
but for one thing: its Connect walk (tests/auth_helpers.run_auth_flow drives a browser through Smartcar's own pages
with Selenium) is replaced by the same steps over plain HTTP on the emulator's pages. Which of the suite's tests fail,
and why that is chosen, is in docs/emulator.md ("Smartcar's own end-to-end suite").

Loaded into that pytest run as a plugin (-p sdk_e2e), this same file makes the replacement; it imports nothing of the
project, whose `tests` package the suite's own would shadow.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import requests

PROJECT = Path(__file__).resolve().parents[2]
# The suite's registered redirect URI (tests/auth_helpers.py: REDIRECT_URI).
SUITE_REDIRECT_URI = "https://example.com/auth"
# Smartcar's test mode gives one car per brand; the emulator's fleets belong to usernames, and big_fleet has every
# model, so the walk signs in as big_fleet and approves the first car the requested permissions allow.
USERNAME = "big_fleet"
SECRET = "emulator-client-secret"


def _form_fields(html: str) -> dict[str, str]:
    return {
        name: re.search(rf'name="{name}" value="([^"]*)"', html).group(1) for name in ("csrfmiddlewaretoken", "flow")
    }


def run_auth_flow(auth_url: str, brand: str = "CHEVROLET") -> list[str]:
    """The suite's Connect walk (brand, any login, approve), over HTTP; returns what its get_code_from_url returns."""
    import tests.auth_helpers as suite  # the suite's own module, already imported by its conftest

    base = f"{os.environ['EMULATOR_E2E_BASE']}/connect"
    browser = requests.Session()
    page = browser.get(auth_url, timeout=30)
    page.raise_for_status()
    page = browser.post(f"{base}/login", data={**_form_fields(page.text), "make": brand}, timeout=30)
    page = browser.post(
        f"{base}/login",
        data={**_form_fields(page.text), "username": USERNAME, "password": "password"},
        allow_redirects=False,
        timeout=30,
    )
    if page.status_code != 302:
        eligible = re.findall(r'name="vehicle"\s+value="([^"]+)" checked', page.text)
        page = browser.post(
            f"{base}/decide",
            data={**_form_fields(page.text), "vehicle": eligible[:1], "action": "approve"},
            allow_redirects=False,
            timeout=30,
        )
    return suite.get_code_from_url(page.headers["Location"])


def pytest_load_initial_conftests(early_config, parser, args) -> None:
    """As a plugin, before the suite's conftest imports its auth_helpers: stand in for Selenium, which the HTTP walk
    does not need."""
    for name in (
        "selenium",
        "selenium.webdriver",
        "selenium.webdriver.common",
        "selenium.webdriver.common.by",
        "selenium.webdriver.support",
        "selenium.webdriver.support.ui",
        "selenium.webdriver.support.expected_conditions",
        "selenium.webdriver.chrome",
        "selenium.webdriver.chrome.service",
        "selenium.webdriver.chrome.options",
    ):
        stub = sys.modules.setdefault(name, types.ModuleType(name))
        for attribute in ("webdriver", "By", "WebDriverWait", "expected_conditions", "Service", "Options"):
            setattr(stub, attribute, getattr(stub, attribute, None))


def pytest_configure(config) -> None:
    """As a plugin, once the suite's conftest has imported its auth_helpers: swap in the HTTP walk."""
    import tests.auth_helpers as suite

    suite.run_auth_flow = run_auth_flow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_emulator(workdir: str) -> tuple[subprocess.Popen, str, dict[str, str]]:
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{workdir}/db.sqlite3",
        "SMARTCAR_EMULATOR_DATABASE_URL": f"sqlite:///{workdir}/emulator.sqlite3",
        "SMARTCAR_EMULATOR_REDIRECT_URIS": SUITE_REDIRECT_URI,
    }
    manage = [sys.executable, str(PROJECT / "manage.py")]
    for database in ("default", "emulator"):
        migrate = [*manage, "migrate", "--noinput", "--database", database]
        subprocess.run(migrate, env=env, check=True, cwd=PROJECT, stdout=subprocess.DEVNULL)  # noqa: S603
    log = open(Path(workdir) / "server.log", "w")  # noqa: SIM115 - kept open for the server's lifetime
    server = subprocess.Popen(  # noqa: S603
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], env=env, cwd=PROJECT, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}/emulator"
    for _ in range(100):
        try:
            if requests.get(f"{base}/", timeout=1).status_code == 200:
                return server, base, env
        except requests.ConnectionError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"the emulator did not start; see {log.name}")


def main(argv: list[str]) -> int:
    if not argv or not (Path(argv[0]) / "tests" / "e2e").is_dir():
        print(__doc__)  # noqa: T201
        return 2
    suite = Path(argv[0]).resolve()
    with tempfile.TemporaryDirectory() as workdir:
        server, base, server_env = _start_emulator(workdir)
        try:
            env = {
                **os.environ,
                "EMULATOR_E2E_BASE": base,
                # The emulator's application, as the quick start configures it.
                "E2E_SMARTCAR_CLIENT_ID": server_env.get("SMARTCAR_EMULATOR_CLIENT_ID", "emulator-client-id"),
                "E2E_SMARTCAR_CLIENT_SECRET": server_env.get("SMARTCAR_EMULATOR_CLIENT_SECRET", SECRET),
                # The SDK reads these when it is imported (SMARTCAR.md §5). Nothing serves the management API.
                "SMARTCAR_CONNECT_ORIGIN": f"{base}/connect",
                "SMARTCAR_AUTH_ORIGIN": f"{base}/auth/oauth/token",
                "SMARTCAR_API_ORIGIN": f"{base}/api",
                "SMARTCAR_VEHICLE_API_V3_ORIGIN": f"{base}/vehicle-api",
                "SMARTCAR_MANAGEMENT_API_ORIGIN": f"{base}/management",
                "PYTHONPATH": str(Path(__file__).parent),
            }
            print(f"emulator at {base}; suite at {suite}", flush=True)  # noqa: T201
            command = [sys.executable, "-m", "pytest", "tests/e2e", "-p", "sdk_e2e", "-p", "no:django"]
            command += ["-p", "no:cacheprovider", "-o", "addopts=", "-rfEs", *argv[1:]]
            return subprocess.run(command, cwd=suite, env=env, check=False).returncode  # noqa: S603
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
