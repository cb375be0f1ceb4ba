from __future__ import annotations

import re
import threading

import pytest
from django.test import Client
from django.urls import reverse

from accounts.forms import SignupForm
from accounts.models import User
from tests.helpers import in_threads

pytestmark = pytest.mark.django_db


def signup(client, email: str, password: str = "a sturdy passphrase", confirm: str | None = None):
    return client.post(
        reverse("accounts:signup"),
        {"email": email, "password1": password, "password2": confirm or password},
    )


def test_signup_creates_account_and_signs_in(client):
    response = signup(client, "carol@example.com")

    assert response.status_code == 302
    assert response.url == reverse("home")
    user = User.objects.get()
    assert user.email == "carol@example.com"
    assert user.check_password("a sturdy passphrase")
    page = client.get(reverse("home"))
    assert page.context["user"] == user
    assert b"Welcome! Your account is ready." in page.content


def test_signup_rejects_email_taken_in_another_case(client, alice):
    response = signup(client, "ALICE@Example.COM")

    assert response.status_code == 200
    assert "An account with this email address already exists." in response.context["form"].errors["email"]
    assert User.objects.count() == 1
    assert "_auth_user_id" not in client.session


def test_signup_applies_password_validators_and_says_so_under_the_password(client):
    response = signup(client, "carol@example.com", password="password")

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "This password is too common." in errors["password1"]
    assert "password2" not in errors
    html = response.content.decode()
    assert html.index('name="password1"') < html.index("This password is too common.") < html.index('name="password2"')
    assert not User.objects.exists()


def test_the_signup_email_field_offers_the_browsers_address(client):
    html = client.get(reverse("accounts:signup")).content.decode()

    assert re.search(r'<input type="email" name="email"[^>]* autocomplete="email"', html)


def test_signup_rejects_mismatched_passwords(client):
    response = signup(client, "carol@example.com", confirm="another sturdy passphrase")

    assert response.status_code == 200
    assert response.context["form"].errors["password2"]
    assert not User.objects.exists()


def test_signup_rejects_malformed_email(client):
    response = signup(client, "not-an-email")

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == ["Enter a valid email address."]
    assert not User.objects.exists()


def test_database_refuses_duplicate_email_in_another_case(alice):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(email="Alice@EXAMPLE.com", password="x")


def test_signed_in_user_visiting_signup_goes_home(alice_client):
    response = alice_client.get(reverse("accounts:signup"))

    assert response.status_code == 302
    assert response.url == reverse("home")


@pytest.mark.django_db(transaction=True)
def test_two_racing_signups_with_one_email_create_one_account_and_tell_the_other(monkeypatch):
    # Both sign-ups pass the form's check before either saves: the window that only the database can close.
    both_checked = threading.Barrier(2)
    save = SignupForm.save

    def save_once_both_checked(self, *args, **kwargs):
        both_checked.wait(timeout=10)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(SignupForm, "save", save_once_both_checked)
    emails = ["carol@example.com", "CAROL@example.com"]
    responses = []

    def sign_up() -> None:
        responses.append(signup(Client(raise_request_exception=False), emails.pop()))

    in_threads(sign_up, 2)

    assert sorted(response.status_code for response in responses) == [200, 302]
    refused = next(response for response in responses if response.status_code == 200)
    assert "An account with this email address already exists." in refused.content.decode()
    assert User.objects.count() == 1
