"""The Content-Security-Policy: the header, and pages that satisfy it (no inline script or style, no other origin)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import smartcar
import smartcar.config
from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from config.middleware import ContentSecurityPolicyMiddleware
from tests.config.test_settings import PRODUCTION_ENV, manage
from tests.factories import UserFactory, VehicleFactory
from tests.helpers import local_path

pytestmark = pytest.mark.django_db


class PolicyViolations(HTMLParser):
    """Collects what `default-src 'self'; object-src 'none'; base-uri 'none'` and a same-origin form-action would
    block: inline scripts, styles and event handlers, resources and forms on other origins, plugins, <base>."""

    URL_ATTRIBUTES = {"src", "href", "action", "formaction", "poster", "data"}

    def __init__(self) -> None:
        super().__init__()
        self.violations: list[str] = []
        self._in_script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and not attributes.get("src"):
            self._in_script_without_src = True
        if tag in {"style", "base", "object", "embed", "iframe", "frame"}:
            self.violations.append(f"<{tag}>")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.violations.append(f"<{tag} {name}=...>")
            if name in self.URL_ATTRIBUTES and value and not self._same_origin(tag, value):
                self.violations.append(f"<{tag} {name}={value!r}>")

    def handle_data(self, data: str) -> None:
        if self._in_script_without_src and data.strip():
            self.violations.append("inline <script>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script_without_src = False

    @staticmethod
    def _same_origin(tag: str, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme == "javascript":
            return False
        # Links (<a href>) may go anywhere; everything else loads or submits.
        return tag == "a" or not (parts.scheme or parts.netloc)


def violations(html: str) -> list[str]:
    parser = PolicyViolations()
    parser.feed(html)
    return parser.violations


def test_the_checker_finds_what_the_policy_blocks():
    html = (
        '<script>alert(1)</script><p style="color:red" onclick="x()">'
        '<link rel="stylesheet" href="https://cdn.example/x.css"><form action="https://evil.example/"></form>'
    )

    assert violations(html) == [
        "inline <script>",
        "<p style=...>",
        "<p onclick=...>",
        "<link href='https://cdn.example/x.css'>",
        "<form action='https://evil.example/'>",
    ]
    assert violations('<script src="/static/x.js"></script><a href="https://smartcar.com/">x</a>') == []


def assert_pages_satisfy_the_policy(client, urls: list[str]) -> None:
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert violations(response.content.decode()) == [], url


def test_public_pages_satisfy_the_policy(client):
    assert_pages_satisfy_the_policy(
        client,
        [
            reverse("home"),
            reverse("accounts:login"),
            reverse("accounts:signup"),
            reverse("accounts:password_reset"),
            reverse("accounts:password_reset_done"),
            reverse("accounts:password_reset_complete"),
            reverse("accounts:password_reset_confirm", args=["MQ", "not-a-token"]),
        ],
    )


def test_signed_in_pages_satisfy_the_policy(client, alice):
    vehicle = VehicleFactory(connection__owner=alice)
    client.force_login(alice)

    assert_pages_satisfy_the_policy(
        client,
        [
            reverse("home"),
            reverse("vehicles:list"),
            reverse("vehicles:detail", args=[vehicle.pk]),
            reverse("vehicles:disconnect", args=[vehicle.pk]),
            reverse("accounts:profile"),
            reverse("accounts:delete"),
            reverse("accounts:password_change"),
            reverse("accounts:password_change_done"),
        ],
    )


def test_admin_pages_satisfy_the_policy(client, alice):
    VehicleFactory(connection__owner=alice)
    client.force_login(UserFactory(email="root@example.com", is_staff=True, is_superuser=True))
    changelists = [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") for model in admin.site._registry
    ]

    assert_pages_satisfy_the_policy(
        client,
        [
            reverse("admin:index"),
            *changelists,
            reverse("admin:accounts_user_change", args=[alice.pk]),
            reverse("admin:accounts_user_add"),
        ],
    )
    client.logout()
    assert_pages_satisfy_the_policy(client, [reverse("admin:login")])


def test_emulator_connect_pages_satisfy_the_policy(client, monkeypatch):
    monkeypatch.setattr(smartcar.config, "CONNECT_ORIGIN", "http://testserver/emulator/connect")
    auth = smartcar.AuthClient(
        client_id=settings.SMARTCAR_EMULATOR_CLIENT_ID,
        client_secret=settings.SMARTCAR_EMULATOR_CLIENT_SECRET,
        redirect_uri="http://localhost:8000/exchange",
        mode="test",
    )
    pages = []

    brands = client.get(local_path(auth.get_auth_url(["read_vehicle_info"], {"state": "s"})))
    pages.append(brands)
    login = client.post("/emulator/connect/login", {"flow": brands.context["flow"], "make": "TESLA"})
    pages.append(login)
    cars = client.post("/emulator/connect/login", {"flow": login.context["flow"], "username": "a@b.c", "password": "x"})
    pages.append(cars)
    pages.append(client.get(local_path(auth.get_auth_url(["read_vehicle_info"]).replace("emulator-client", "x"))))
    pages.append(client.get("/emulator/"))

    for page in pages:
        assert page.status_code in {200, 400}, page.content
        assert violations(page.content.decode()) == [], page.request["PATH_INFO"]


def test_middleware_sends_the_policy_and_keeps_a_view_own(settings):
    settings.CONTENT_SECURITY_POLICY = {"default-src": ["'self'"], "form-action": ["'self'", "https://x.example"]}
    middleware = ContentSecurityPolicyMiddleware(lambda request: HttpResponse())

    response = middleware(RequestFactory().get("/"))

    assert response["Content-Security-Policy"] == "default-src 'self'; form-action 'self' https://x.example"

    def own(request):
        response = HttpResponse()
        response["Content-Security-Policy"] = "default-src 'none'"
        return response

    assert ContentSecurityPolicyMiddleware(own)(RequestFactory().get("/"))["Content-Security-Policy"] == (
        "default-src 'none'"
    )


def test_production_policy_lets_sign_in_continue_to_connect():
    snapshot = "import json; from django.conf import settings as s; print(json.dumps(s.CONTENT_SECURITY_POLICY))"

    result = manage("shell", "-c", snapshot, env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    policy = json.loads(result.stdout.strip().splitlines()[-1])
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    # Signing in with ?next=/login redirects to Connect: browsers hold the redirects after a POST to form-action.
    assert policy["form-action"] == ["'self'", "https://connect.smartcar.com", "https://garage.example.com"]
