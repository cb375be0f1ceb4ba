from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase"


def reset_link(message) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_password_reset_email_is_sent_and_usable(client, alice):
    response = client.post(reverse("accounts:password_reset"), {"email": "Alice@Example.com"})

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [alice.email]
    assert message.subject == "Reset your Garage password"

    # Django first redirects the emailed link to one without the token, kept in the session.
    form_page = client.get(reset_link(message), follow=True)
    assert form_page.context["validlink"]
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert done.url == reverse("accounts:password_reset_complete")

    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_password_reset_link_works_once(client, alice):
    client.post(reverse("accounts:password_reset"), {"email": alice.email})
    link = reset_link(mail.outbox[0])
    form_page = client.get(link, follow=True)
    client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    again = client.get(link, follow=True)

    assert not again.context["validlink"]
    assert "This link no longer works" in again.content.decode()


def test_password_reset_for_unknown_email_sends_nothing_and_says_the_same(client):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    assert mail.outbox == []


def test_password_change_requires_the_old_password(alice_client, alice, password):
    wrong = alice_client.post(
        reverse("accounts:password_change"),
        {"old_password": "not it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert wrong.status_code == 200
    alice.refresh_from_db()
    assert alice.check_password(password)

    right = alice_client.post(
        reverse("accounts:password_change"),
        {"old_password": password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert right.url == reverse("accounts:password_change_done")
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    # The session survives the change (Django rotates its hash).
    assert alice_client.get(reverse("accounts:profile")).status_code == 200


@pytest.mark.parametrize("url_name", ["accounts:password_change", "reset"])
def test_a_new_password_the_validators_refuse_is_said_under_the_new_password(alice_client, alice, password, url_name):
    if url_name == "reset":
        alice_client.post(reverse("accounts:password_reset"), {"email": alice.email})
        url = alice_client.get(reset_link(mail.outbox[0])).url  # Django swaps the token for a session key
    else:
        url = reverse(url_name)

    response = alice_client.post(
        url, {"old_password": password, "new_password1": "password", "new_password2": "password"}
    )

    errors = response.context["form"].errors
    assert "This password is too common." in errors["new_password1"]
    assert "new_password2" not in errors
