"""Where people used to get stuck: a connection Smartcar stopped accepting (one email, a link straight back to the
car), and a car two accounts share (one account leaving must not cut the other off)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in, walk_connect
from tests.helpers import take_queued_tasks
from vehicles import tasks
from vehicles.models import SmartcarConnection, Vehicle
from vehicles.services import vehicle_data

pytestmark = pytest.mark.django_db(transaction=True)

LINK = re.compile(r"^  (?P<name>.+): (?P<url>http\S+)$", re.MULTILINE)


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")


def test_the_reconnect_email_links_to_connect_for_the_cars_make_and_back_to_the_car(page: Page, site, alice, password):
    sign_in(page, alice.email, password)
    page.goto("/login")
    walk_connect(page)
    connection = SmartcarConnection.objects.get(owner=alice)
    # Smartcar stops accepting the grant: its refresh token is one it does not know.
    connection.refresh_token = "00000000-0000-0000-0000-000000000000"
    connection.access_expires_at = timezone.now()
    connection.save()
    take_queued_tasks()

    tasks.refresh_connection.apply(args=[connection.pk])
    for task in take_queued_tasks():  # what a worker does with them
        if task.name == tasks.notify_reauth.name:
            tasks.notify_reauth.apply(args=task.args)
    tasks.refresh_connection.apply(args=[connection.pk])  # a later sweep, or a page, tries again

    assert SmartcarConnection.objects.get(pk=connection.pk).status == SmartcarConnection.Status.NEEDS_REAUTH
    [email] = mail.outbox
    assert email.to == [alice.email]
    links = {match["name"].split(" · ")[0]: match["url"] for match in LINK.finditer(email.body)}
    assert sorted(links) == ["2022 CHEVROLET Bolt EV", "2023 TOYOTA RAV4 Prime", "2023 VOLKSWAGEN ID.4"]

    page.goto(links["2023 TOYOTA RAV4 Prime"])
    # Straight to the make's sign-in at Connect, no brand list.
    expect(page.get_by_role("button", name="Chevrolet")).to_have_count(0)
    page.get_by_label("Username or email").fill("driver@example.com")
    page.get_by_label("Password").fill("any password")
    page.get_by_role("button", name="Sign in").click()

    rav4 = Vehicle.objects.get(owner=alice, make="TOYOTA")
    expect(page).to_have_url(f"{site}/vehicles/{rav4.pk}/")
    expect(page.get_by_role("status")).to_have_text("3 vehicles reconnected.")
    expect(page.get_by_role("heading", name="This car needs reconnecting")).to_have_count(0)
    assert SmartcarConnection.objects.get(pk=connection.pk).status == SmartcarConnection.Status.ACTIVE


def test_a_car_two_accounts_share_stays_connected_for_one_when_the_other_deletes_itself(
    page: Page, site, alice, bob, password
):
    sign_in(page, alice.email, password)
    page.goto("/login")
    walk_connect(page)
    sign_out(page)
    sign_in(page, bob.email, password)
    page.goto("/login")
    # The same car maker's account, so the same cars: Connect remembers the grant and asks nothing more.
    walk_connect(page, action=None)
    expect(page.get_by_role("status")).to_have_text("3 vehicles connected.")

    page.get_by_role("link", name=bob.email).click()
    page.get_by_role("link", name="Delete my account…").click()
    page.get_by_label("Your password").fill(password)
    page.get_by_role("button", name="Delete my account").click()

    messages = page.get_by_role("status")
    expect(messages).to_contain_text("Your account and everything in it were deleted.")
    expect(messages).to_contain_text("3 of your cars are also connected to another account here")
    sign_in(page, alice.email, password)
    page.goto("/vehicles/")
    expect(page.get_by_text("Connected", exact=True)).to_have_count(0)  # the overview shows problems only
    expect(page.get_by_text("Needs reconnecting")).to_have_count(0)
    for vehicle in Vehicle.objects.filter(owner=alice):
        # Smartcar still answers for alice: her access was never revoked.
        assert vehicle_data.sync_vehicle_data(vehicle_id=vehicle.pk).sync_error == ""
    assert SmartcarConnection.objects.get(owner=alice).status == SmartcarConnection.Status.ACTIVE
    assert not Vehicle.objects.filter(owner__email=bob.email).exists()
