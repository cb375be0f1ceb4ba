from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_sign_in_with_email_in_any_case(client, alice, password):
    response = client.post(reverse("accounts:login"), {"username": "ALICE@example.com", "password": password})

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert int(client.session["_auth_user_id"]) == alice.pk


def test_sign_in_rejects_wrong_password(client, alice):
    response = client.post(reverse("accounts:login"), {"username": alice.email, "password": "wrong password"})

    assert response.status_code == 200
    assert "Please enter a correct email address and password." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_changes_the_session_id(client, alice, password):
    client.get(reverse("accounts:login"))
    client.session.save()
    before = client.session.session_key

    client.post(reverse("accounts:login"), {"username": alice.email, "password": password})

    assert client.session.session_key != before


def test_sign_in_follows_a_same_site_next(client, alice, password):
    response = client.post(
        reverse("accounts:login") + "?next=/accounts/profile/",
        {"username": alice.email, "password": password, "next": "/accounts/profile/"},
    )

    assert response.url == "/accounts/profile/"


def test_sign_in_ignores_an_offsite_next(client, alice, password):
    response = client.post(
        reverse("accounts:login"),
        {"username": alice.email, "password": password, "next": "https://evil.example/"},
    )

    assert response.url == reverse("home")


def test_sign_out_needs_post(alice_client):
    assert alice_client.get(reverse("accounts:logout")).status_code == 405
    assert "_auth_user_id" in alice_client.session

    response = alice_client.post(reverse("accounts:logout"), follow=True)

    assert "_auth_user_id" not in alice_client.session
    assert response.redirect_chain == [(reverse("home"), 302)]
    assert [str(message) for message in response.context["messages"]] == ["You are signed out."]


def test_the_sign_in_page_is_named_after_the_site_not_its_host(client):
    html = client.get(reverse("accounts:login"), HTTP_HOST="localhost:8000").content.decode()

    assert "<title>Sign in &middot; Garage</title>" in html
    assert "localhost:8000" not in html
    assert re.search(r'<input type="email" name="username"[^>]* autocomplete="username"', html)


def test_navigation_reflects_sign_in_state(client, alice):
    anonymous = client.get(reverse("home")).content.decode()
    assert "Sign in" in anonymous
    assert "Sign out" not in anonymous

    client.force_login(alice)
    signed_in = client.get(reverse("home")).content.decode()
    assert "Sign out" in signed_in
    assert alice.email in signed_in


# Longer than any email address may be (254) and than the column django-axes records failed sign-ins in (255).
OVERLONG_EMAIL = "a" * 250 + "@example.com"


@pytest.mark.parametrize("url_name", ["accounts:login", "admin:login"])
def test_sign_in_with_an_overlong_email_says_it_is_too_long_and_records_nothing(client, url_name):
    response = client.post(reverse(url_name), {"username": OVERLONG_EMAIL, "password": "a password"})

    assert response.status_code == 200
    assert response.context["form"].errors["username"] == [
        "An email address has at most 254 characters (this one has 262)."
    ]
    assert "_auth_user_id" not in client.session
    assert not AccessAttempt.objects.exists()
