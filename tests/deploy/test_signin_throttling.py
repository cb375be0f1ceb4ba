"""Sign-in throttling (django-axes) on the site's and the admin's sign-in pages."""

from __future__ import annotations

import pytest
import time_machine
from django.test import RequestFactory
from django.urls import reverse

from config.signin import client_ip
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed sign-ins for this email address from your network. Wait 15 minutes, then try again."


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = 3


def fail(client, url: str, email: str, times: int, **extra) -> None:
    for _ in range(times):
        response = client.post(url, {"username": email, "password": "wrong password"}, **extra)
        assert response.status_code == 200


def test_site_sign_in_locks_out_after_the_limit_with_a_message(client, alice, password):
    fail(client, reverse("accounts:login"), alice.email, 2)

    response = client.post(reverse("accounts:login"), {"username": alice.email, "password": "wrong password"})

    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED in page
    assert 'name="username"' in page
    # Even the right password is refused until the wait is over.
    response = client.post(reverse("accounts:login"), {"username": alice.email, "password": password})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_ends_after_the_cool_off(client, alice, password):
    sign_in = reverse("accounts:login")
    with time_machine.travel("2026-03-01 12:00:00+00:00"):
        fail(client, sign_in, alice.email, 2)
        assert client.post(sign_in, {"username": alice.email, "password": "wrong"}).status_code == 429
        assert client.post(sign_in, {"username": alice.email, "password": password}).status_code == 429

    with time_machine.travel("2026-03-01 12:16:00+00:00"):
        response = client.post(sign_in, {"username": alice.email, "password": password})

        assert response.status_code == 302
        assert int(client.session["_auth_user_id"]) == alice.pk


def test_the_count_ignores_the_case_of_the_email_address(client, alice):
    fail(client, reverse("accounts:login"), "ALICE@example.com", 1)
    fail(client, reverse("accounts:login"), "Alice@Example.com", 1)

    response = client.post(reverse("accounts:login"), {"username": "alice@EXAMPLE.com", "password": "nope"})

    assert response.status_code == 429


def test_a_lockout_holds_only_that_address_and_email(client, alice, bob, password):
    fail(client, reverse("accounts:login"), alice.email, 2)
    assert client.post(reverse("accounts:login"), {"username": alice.email, "password": "x"}).status_code == 429

    other_address = client.post(
        reverse("accounts:login"), {"username": alice.email, "password": password}, REMOTE_ADDR="203.0.113.9"
    )
    other_email = client.post(reverse("accounts:login"), {"username": bob.email, "password": password})

    assert other_address.status_code == 302
    assert other_email.status_code == 302


def test_success_before_the_limit_resets_the_count(client, alice, password):
    fail(client, reverse("accounts:login"), alice.email, 2)
    client.post(reverse("accounts:login"), {"username": alice.email, "password": password})
    client.post(reverse("accounts:logout"))

    fail(client, reverse("accounts:login"), alice.email, 2)


def test_admin_sign_in_is_throttled_too(client):
    staff = UserFactory(email="staff@example.com", is_staff=True)
    fail(client, reverse("admin:login"), staff.email, 2)

    response = client.post(reverse("admin:login"), {"username": staff.email, "password": "wrong password"})

    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "Garage support" in response.content.decode()  # the admin's own sign-in page, locked


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, "198.51.100.7", "10.0.0.2"),
        (1, "198.51.100.7", "198.51.100.7"),
        # The client may invent entries on the left; the proxy appends the address it saw.
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),
        (2, "6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7"),
        (1, "", "10.0.0.2"),
    ],
)
def test_client_address_behind_trusted_proxies(settings, proxies, forwarded_for, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().post("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for)

    assert client_ip(request) == expected
