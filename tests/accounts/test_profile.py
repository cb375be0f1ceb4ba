from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db

PRIVATE_PAGES = ["accounts:profile", "accounts:delete", "accounts:password_change", "accounts:password_change_done"]


@pytest.mark.parametrize("name", PRIVATE_PAGES)
def test_private_pages_send_anonymous_visitors_to_sign_in(client, name):
    url = reverse(name)

    response = client.get(url)

    assert response.status_code == 302
    assert response.url == f"{reverse('accounts:login')}?next={url}"


def test_profile_shows_and_saves_the_name_and_units(alice_client, alice):
    page = alice_client.get(reverse("accounts:profile"))
    assert alice.email in page.content.decode()

    response = alice_client.post(
        reverse("accounts:profile"), {"first_name": "Alicia", "last_name": "Smith", "unit_system": "imperial"}
    )

    assert response.url == reverse("accounts:profile")
    alice.refresh_from_db()
    assert (alice.first_name, alice.last_name, alice.unit_system) == ("Alicia", "Smith", "imperial")


def test_account_deletion_asks_for_the_password_first(alice_client, alice):
    page = alice_client.get(reverse("accounts:delete"))
    assert "cannot be" in page.content.decode()

    response = alice_client.post(reverse("accounts:delete"), {"password": "not my password"})

    assert response.status_code == 200
    assert response.context["form"].errors["password"] == ["That is not your password."]
    assert User.objects.filter(pk=alice.pk).exists()


def test_account_deletion_removes_the_user_and_signs_out(alice_client, alice, bob, password):
    response = alice_client.post(reverse("accounts:delete"), {"password": password})

    assert response.url == reverse("home")
    assert not User.objects.filter(pk=alice.pk).exists()
    assert User.objects.filter(pk=bob.pk).exists()
    assert "_auth_user_id" not in alice_client.session
    home = alice_client.get(reverse("home")).content.decode()
    assert "Your account and everything in it were deleted." in home


def test_account_deletion_needs_post(alice_client, alice):
    alice_client.get(reverse("accounts:delete"))

    assert User.objects.filter(pk=alice.pk).exists()
