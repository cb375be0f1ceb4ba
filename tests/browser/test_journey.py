"""A person's whole journey in the browser: sign up, connect cars through Connect, their data, commands,
disconnecting, deleting the account."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import shoot, sign_in, sign_up, walk_connect
from vehicles.models import SmartcarConnection, Vehicle

pytestmark = pytest.mark.django_db(transaction=True)

# Smartcar reports makes in capitals.
DRIVER_CARS = [("CHEVROLET", "Bolt EV", "2022"), ("TOYOTA", "RAV4 Prime", "2023"), ("VOLKSWAGEN", "ID.4", "2023")]


def vehicle_rows(page: Page) -> list[tuple[str, str, str]]:
    rows = page.get_by_role("table").locator("tbody tr")
    return sorted(tuple(row.locator("td").all_inner_texts()[:3]) for row in rows.all())


def test_sign_up_then_connect_shows_the_cars_in_the_table(page: Page, site, password):
    page.goto("/")
    shoot(page, "home")
    page.get_by_role("link", name="Create an account").click()
    shoot(page, "sign-up")
    sign_up(page, "newcomer@example.com", password)

    page.get_by_role("link", name="Connect a car").first.click()
    expect(page).to_have_url(re.compile(r"/emulator/connect/"))
    page.get_by_role("button", name="Chevrolet").click()
    page.get_by_label("Username or email").fill("driver@example.com")
    page.get_by_label("Password").fill("any password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Allow access to your vehicles")).to_be_visible()
    shoot(page, "connect")
    page.get_by_role("button", name="Approve").click()

    expect(page).to_have_url(f"{site}/vehicles/")
    expect(page.get_by_role("status")).to_have_text("3 vehicles connected.")
    assert vehicle_rows(page) == DRIVER_CARS
    expect(page.get_by_text("Connected", exact=True)).to_have_count(3)
    shoot(page, "vehicles")


def test_denying_access_in_connect_connects_nothing(page: Page, site, alice, password):
    sign_in(page, alice.email, password)
    page.goto("/login")
    walk_connect(page, action="Deny")

    expect(page).to_have_url(f"{site}/vehicles/")
    expect(page.get_by_role("status")).to_have_text(
        "You chose not to give access to your car, so nothing was connected."
    )
    expect(page.get_by_text("No car is connected yet.")).to_be_visible()
    assert not Vehicle.objects.filter(owner=alice).exists()


def test_a_connection_that_needs_reconnecting_is_restored_through_connect(page: Page, site, alice, password):
    sign_in(page, alice.email, password)
    page.goto("/login")
    walk_connect(page)
    expect(page.get_by_role("status")).to_have_text("3 vehicles connected.")
    SmartcarConnection.objects.filter(owner=alice).update(status=SmartcarConnection.Status.NEEDS_REAUTH)

    page.reload()
    expect(page.get_by_text("Needs reconnecting")).to_have_count(3)
    page.get_by_role("link", name="Reconnect").first.click()
    # The emulator remembers the grant and skips its permissions page, as Smartcar does.
    walk_connect(page, action=None)

    expect(page).to_have_url(f"{site}/vehicles/")
    expect(page.get_by_role("status")).to_have_text("3 vehicles reconnected.")
    expect(page.get_by_text("Connected", exact=True)).to_have_count(3)
    expect(page.get_by_text("Needs reconnecting")).to_have_count(0)
    assert SmartcarConnection.objects.get(owner=alice).status == SmartcarConnection.Status.ACTIVE


# The site has no JavaScript: the page that waits for the data reloads itself with a meta refresh.
@pytest.mark.browser_context_args(java_script_enabled=False)
def test_refresh_brings_the_cars_data_through_a_worker_then_lock_and_unlock(page: Page, site, worker, alice, password):
    sign_in(page, alice.email, password)
    page.goto("/login")
    walk_connect(page)
    page.get_by_role("link", name="CHEVROLET").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("2022 CHEVROLET Bolt EV")
    expect(page.get_by_text("not fetched yet: press")).to_be_visible()

    page.get_by_role("button", name="Refresh data").click()
    expect(page.get_by_role("status")).to_contain_text("Asking the car for its latest data")
    expect(page.get_by_role("button", name="Updating…")).to_be_disabled()
    # The page reloads itself every three seconds until the worker has stored the data.
    facts = page.get_by_role("table")
    expect(facts.get_by_role("row", name=re.compile(r"^Odometer"))).to_contain_text(
        re.compile(r"[\d,]+ km\s+(?:\d+\s\w+ ago|just now)"), timeout=30_000
    )
    expect(facts.get_by_role("row", name=re.compile(r"^Battery"))).to_contain_text(
        re.compile(r"\d+ %\s+(?:\d+\s\w+ ago|just now)")
    )
    expect(page.get_by_role("button", name="Refresh data")).to_be_enabled()
    expect(page.get_by_text(re.compile(r"fetched (?:\d+\xa0\w+ ago|just now)"))).to_be_visible()
    shoot(page, "vehicle")

    for action in ("Lock", "Unlock"):
        page.get_by_role("link", name=action, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"{action}: 2022 CHEVROLET Bolt EV?")
        page.get_by_role("button", name=action, exact=True).click()
        expect(page.get_by_role("status")).to_contain_text(f"{action}:")
        expect(page.locator(".message-success")).to_be_visible()
    expect(page.get_by_role("list").filter(has_text="Lock")).to_contain_text(re.compile(r"Unlock\W+succeeded"))


def test_disconnecting_a_car_removes_it_from_the_table(page: Page, site, alice, password):
    sign_in(page, alice.email, password)
    page.goto("/login")
    walk_connect(page)
    page.get_by_role("link", name="TOYOTA").click()

    page.get_by_role("link", name="Disconnect…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Disconnect 2023 TOYOTA RAV4 Prime?")
    page.get_by_role("button", name="Disconnect").click()

    expect(page).to_have_url(f"{site}/vehicles/")
    expect(page.get_by_role("status")).to_have_text("2023 TOYOTA RAV4 Prime was disconnected and its data removed.")
    assert vehicle_rows(page) == [car for car in DRIVER_CARS if car[0] != "TOYOTA"]


def test_deleting_the_account_signs_out_and_the_password_no_longer_works(page: Page, site, alice, password):
    sign_in(page, alice.email, password)
    page.goto("/login")
    walk_connect(page)

    page.get_by_role("link", name=alice.email).click()
    page.get_by_role("link", name="Delete my account…").click()
    page.get_by_label("Your password").fill(password)
    page.get_by_role("button", name="Delete my account").click()

    expect(page).to_have_url(f"{site}/")
    expect(page.get_by_role("status")).to_have_text("Your account and everything in it were deleted.")
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct")
    assert not SmartcarConnection.objects.exists()
