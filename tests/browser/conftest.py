"""Browser tests: Debian's Chromium, driven by Playwright, against a live server with the emulator as Smartcar and
the production Content-Security-Policy; any policy violation the browser reports fails the test, and so does any page
that reloads itself with <meta http-equiv="refresh">. axe-core, from npm (tests/browser/axe), checks accessibility."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.test import override_settings
from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page, expect
from pytest_django.live_server_helper import LiveServer

from config.celery import app as celery_app
from tests.config.test_settings import PRODUCTION_ENV, manage
from tests.helpers import ALL_SCOPES
from tests.vehicles.histories import live_the_weeks, start_in_the_past
from vehicles.models import Vehicle

# Playwright's sync API runs an event loop in the test's thread, and Django refuses ORM calls from a thread with a
# running loop; the tests' own ORM calls (fixtures, setting a connection's status) are plain synchronous code.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

# Playwright's own browser download is not available here: Debian's chromium package is used instead.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CSP_MESSAGE = re.compile(r"Content[- ]Security[- ]Policy", re.IGNORECASE)
# Installed by `make test` (npm ci --prefix tests/browser/axe) at the version package-lock.json pins.
AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# Run in every page before its own scripts: a page that would reload itself says so on the console. Such a reload throws
# keyboard and screen-reader users back to the top of the page (WCAG 2.2.1).
META_REFRESH_WATCH = """document.addEventListener("DOMContentLoaded", () => {
  if (document.querySelector('meta[http-equiv="refresh" i]')) {
    console.error("meta refresh on " + location.href);
  }
});"""


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium).")
    headless = browser_type_launch_args.get("headless", True)  # pytest-playwright's --headed turns it off
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [*(["--headless"] if headless else []), *CHROMIUM_ARGS],
    }


def production_policy(origin: str) -> dict[str, list[str]]:
    """The policy config/settings/production.py builds for a site at `origin` whose Connect is its emulator."""
    snapshot = "import json; from django.conf import settings as s; print(json.dumps(s.CONTENT_SECURITY_POLICY))"
    env = {
        **PRODUCTION_ENV,
        "SMARTCAR_CONNECT_ORIGIN": f"{origin}/emulator/connect",
        "SMARTCAR_REDIRECT_URI": f"{origin}/exchange",
    }
    result = manage("shell", "-c", snapshot, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="package")
def live_server(django_db_setup) -> Iterator[LiveServer]:
    """pytest-django's live server, sending the production Content-Security-Policy for its own origin.

    A package of its own: middleware is loaded once, when the server's handler is built, so the policy must be in
    the settings before that, and the policy names the server's origin, so the port is chosen first."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    middleware = list(settings.MIDDLEWARE)
    # Where production puts it: right after SecurityMiddleware.
    middleware.insert(1, "config.middleware.ContentSecurityPolicyMiddleware")
    policy = production_policy(f"http://localhost:{port}")
    with override_settings(MIDDLEWARE=middleware, CONTENT_SECURITY_POLICY=policy):
        server = LiveServer(f"localhost:{port}")
        yield server
        server.stop()


@pytest.fixture(scope="session")
def base_url() -> None:
    """Replaces pytest-playwright's (a deprecated instance-method fixture under pytest 9): the live server's URL
    is every context's base URL, below."""
    return None


@pytest.fixture(scope="package")
def browser_context_args(browser_context_args: dict, live_server: LiveServer) -> dict:
    return {**browser_context_args, "base_url": live_server.url}


@pytest.fixture
def site(emulator, live_server, settings) -> str:
    """The live server's URL, with Connect (the emulator) redirecting back to it and asking every permission."""
    settings.SMARTCAR_REDIRECT_URI = f"{live_server.url}/exchange"
    settings.SMARTCAR_EMULATOR_REDIRECT_URIS = [
        *settings.SMARTCAR_EMULATOR_REDIRECT_URIS,
        settings.SMARTCAR_REDIRECT_URI,
    ]
    settings.SMARTCAR_SCOPES = ALL_SCOPES
    return live_server.url


@pytest.fixture
def csp_violations() -> list[str]:
    return []


@pytest.fixture
def context(context: BrowserContext, csp_violations: list[str]) -> Iterator[BrowserContext]:
    """Every page of the test reports what the browser says about the Content-Security-Policy, and whether it
    reloads itself."""
    meta_refreshes: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if CSP_MESSAGE.search(message.text):
            csp_violations.append(f"{message.page.url if message.page else '?'}: {message.text}")
        if message.text.startswith("meta refresh on "):
            meta_refreshes.append(message.text)

    def on_page_error(error: Error) -> None:
        if CSP_MESSAGE.search(f"{error.name}: {error.message}"):
            csp_violations.append(f"page error: {error.message}")

    context.add_init_script(META_REFRESH_WATCH)
    context.on("console", on_console)
    context.on("page", lambda page: page.on("pageerror", on_page_error))
    yield context
    assert csp_violations == [], "the browser reported Content-Security-Policy violations"
    assert meta_refreshes == [], "a page reloads itself"


@pytest.fixture
def worker(site) -> Iterator[None]:
    """A Celery worker in a thread, taking tasks from the test Redis as production's workers do."""
    celery_app.control.purge()  # nothing left over from tests that queued tasks without a worker
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        yield


def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    """Save docs/screenshots/<name>.png when UPDATE_SCREENSHOTS is set (see docs/development.md)."""
    if os.environ.get("UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=full_page)


def sign_up(page: Page, email: str, password: str) -> None:
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password confirmation").fill(password)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("status")).to_contain_text("Your account is ready")


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_contain_text(email)


def walk_connect(page: Page, *, username: str = "driver@example.com", action: str | None = "Approve") -> None:
    """From the emulator's brand list, through its sign-in, to `action` on its permissions page (None when the
    emulator skips that page: a grant it already has)."""
    expect(page).to_have_title(re.compile("Smartcar emulator"))
    page.get_by_role("button", name="Chevrolet").click()
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill("any password")
    page.get_by_role("button", name="Sign in").click()
    if action:
        page.get_by_role("button", name=action).click()


def connect_with_weeks_of_history(page: Page, control, person, password: str) -> Vehicle:
    """`person` signs in and connects their cars a few weeks ago on the emulator's clock; the Chevrolet then lives
    those weeks while the application fetches its data, as production would. The Chevrolet."""
    start_in_the_past(control)
    sign_in(page, person.email, password)
    page.goto("/login")
    walk_connect(page)
    bolt = Vehicle.objects.get(owner=person, make="CHEVROLET")
    live_the_weeks(control, bolt)
    return bolt


def has_no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def axe_violations(
    page: Page, csp_violations: list[str], *, impacts: tuple[str, ...] = ("serious", "critical")
) -> list[str]:
    """What axe-core finds wrong with the page as it is now, at these impacts, one line per rule. Some of its checks
    try an inline style of their own, which the page's policy refuses: those reports are axe's, not the page's."""
    if not AXE.exists():
        pytest.fail(f"{AXE} not found: `make test` installs it with npm (npm ci --prefix tests/browser/axe).")
    # Evaluated by the browser's developer protocol, like the test's own calls: the page's policy, which refuses
    # inline scripts, does not apply to it, and nothing is added to the page's DOM.
    page.evaluate(AXE.read_text())
    reported = len(csp_violations)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    page.evaluate("() => null")  # the console messages of the run have arrived once this answers
    del csp_violations[reported:]
    return [
        f"{rule['id']} ({rule['impact']}): {rule['help']} at {[node['target'] for node in rule['nodes']]}"
        for rule in result["violations"]
        if rule["impact"] in impacts
    ]
