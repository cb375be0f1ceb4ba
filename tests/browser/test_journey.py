"""A person's whole journey in the browser: sign up, connect cars through Connect, the garage filling in by itself,
a car's page, commands, disconnecting, deleting the account."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import shoot, sign_in, sign_up, walk_connect
from vehicles.models import SmartcarConnection, Vehicle
from vehicles.services.vehicle_data import sync_vehicle_data

pytestmark = pytest.mark.django_db(transaction=True)

# Smartcar reports makes in capitals; the emulator's cars for driver@example.com.
DRIVER_CARS = ["2022 CHEVROLET Bolt EV", "2023 TOYOTA RAV4 Prime", "2023 VOLKSWAGEN ID.4"]


def car_names(page: Page) -> list[str]:
    """The garage's cars by name, without the VIN's last four characters."""
    names = page.locator(".garage .car-name").all_inner_texts()
    return sorted(name.split(" · ")[0] for name in names)


def car(page: Page, name: str):
    return page.locator(".garage .car").filter(has=page.get_by_role("heading", name=re.compile(re.escape(name))))


def test_connected_cars_fill_in_on_the_garage_without_a_reload(page: Page, site, worker, password):
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
    # Marks this very document: a reload would make a new one without the mark.
    page.evaluate("window.sameDocument = true")
    bolt = car(page, "2022 CHEVROLET Bolt EV")
    # The worker fetches each car's data, which the page puts in place as it lands.
    expect(bolt.get_by_text("Battery")).to_be_visible(timeout=30_000)
    for name in DRIVER_CARS:
        expect(car(page, name).locator("dl")).to_contain_text(re.compile("range", re.IGNORECASE), timeout=30_000)
        expect(car(page, name).locator("dl")).to_contain_text(re.compile(r"Locked|Unlocked"))
    expect(page.locator("[data-live-status]")).to_have_text("Every car has reported.")
    assert page.evaluate("window.sameDocument") is True
    assert car_names(page) == DRIVER_CARS
    shoot(page, "vehicles")

    # Only what the powertrain has: no fuel on the electric Bolt, both on the plug-in hybrid.
    expect(bolt.locator("dl")).not_to_contain_text("Fuel")
    expect(bolt.locator("dl")).to_contain_text(re.compile(r"Battery\s*\d+ %"))
    rav4 = car(page, "2023 TOYOTA RAV4 Prime")
    expect(rav4.locator("dl")).to_contain_text("Fuel")
    expect(rav4.locator("dl")).to_contain_text("Electric range")
    # When each car last reported: in words, the moment itself in the tooltip.
    reported = bolt.locator(".car-reported time")
    expect(reported).to_have_attribute("title", re.compile(r"^\d{1,2} \w+ \d{4}, \d{2}:\d{2} UTC$"))
    # Its location links to OpenStreetMap.
    expect(bolt.get_by_role("link", name="Map")).to_have_attribute(
        "href", re.compile(r"^https://www\.openstreetmap\.org/\?mlat=-?\d+\.\d+&mlon=-?\d+\.\d+#map=16/")
    )


@pytest.mark.browser_context_args(java_script_enabled=False)
def test_without_javascript_the_garage_fills_in_by_checking_again(page: Page, site, alice, password):
    sign_in(page, alice.email, password)
    page.goto("/login")
    walk_connect(page)
    expect(page.locator("[data-live-status]")).to_contain_text("Asking 3 cars for their data")
    expect(page.get_by_text("Asking your car…")).to_have_count(3)

    # No worker runs in this test: the fetches run here, as a worker would run them.
    for vehicle in Vehicle.objects.all():
        sync_vehicle_data(vehicle_id=vehicle.pk)
    page.get_by_role("link", name="Check again").click()

    expect(page.get_by_text("Asking your car…")).to_have_count(0)
    expect(page.locator(".garage dl")).to_have_count(3)
    expect(page.get_by_role("link", name="Check again")).to_have_count(0)


def test_a_connection_that_needs_reconnecting_is_restored_through_connect(page: Page, site, alice, password):
    sign_in(page, alice.email, password)
    page.goto("/login")
    walk_connect(page)
    expect(page.get_by_role("status")).to_have_text("3 vehicles connected.")
    SmartcarConnection.objects.filter(owner=alice).update(status=SmartcarConnection.Status.NEEDS_REAUTH)

    page.reload()
    expect(page.get_by_role("heading", name="3 cars need reconnecting")).to_be_visible()
    expect(page.get_by_text("Needs reconnecting")).to_have_count(3)
    page.get_by_role("link", name=re.compile(r"^Reconnect 2022 CHEVROLET Bolt EV")).click()
    # Connect opens at the car's make and, the emulator remembering the grant, skips its permissions page.
    expect(page.get_by_label("Username or email")).to_be_visible()
    walk_connect_after_brand(page)

    bolt = Vehicle.objects.get(owner=alice, make="CHEVROLET")
    expect(page).to_have_url(f"{site}/vehicles/{bolt.pk}/")
    expect(page.get_by_role("status")).to_have_text("3 vehicles reconnected.")
    expect(page.get_by_text("Needs reconnecting")).to_have_count(0)
    assert SmartcarConnection.objects.get(owner=alice).status == SmartcarConnection.Status.ACTIVE


def walk_connect_after_brand(page: Page, username: str = "driver@example.com") -> None:
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill("any password")
    page.get_by_role("button", name="Sign in").click()


def test_a_stale_connect_link_says_it_expired_and_offers_to_try_again(page: Page, site, alice, password):
    sign_in(page, alice.email, password)
    page.goto("/exchange?code=reopened-from-history&state=long-gone")

    expect(page.get_by_role("status")).to_contain_text("This Smartcar Connect link has expired")
    page.get_by_role("link", name="Connect again").click()
    expect(page).to_have_url(re.compile(r"/emulator/connect/"))


def test_disconnecting_a_car_removes_it_from_the_garage(page: Page, site, alice, password):
    sign_in(page, alice.email, password)
    page.goto("/login")
    walk_connect(page)
    page.get_by_role("link", name=re.compile("TOYOTA")).click()

    page.get_by_role("link", name="Disconnect…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Disconnect 2023 TOYOTA RAV4 Prime?")
    page.get_by_role("button", name="Disconnect").click()

    expect(page).to_have_url(f"{site}/vehicles/")
    expect(page.get_by_role("status")).to_have_text("2023 TOYOTA RAV4 Prime was disconnected and its data removed.")
    assert car_names(page) == [name for name in DRIVER_CARS if "TOYOTA" not in name]


def test_deleting_the_account_signs_out_and_the_password_no_longer_works(page: Page, site, alice, password):
    sign_in(page, alice.email, password)
    page.goto("/login")
    walk_connect(page)

    page.get_by_role("link", name=alice.email).click()
    page.get_by_role("link", name="Delete my account…").click()
    delete = page.get_by_role("button", name="Delete my account")
    # A destructive confirmation is red.
    assert delete.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(179, 38, 30)"
    page.get_by_label("Your password").fill(password)
    delete.click()

    expect(page).to_have_url(f"{site}/")
    expect(page.get_by_role("status")).to_have_text("Your account and everything in it were deleted.")
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct")
    assert not SmartcarConnection.objects.exists()
