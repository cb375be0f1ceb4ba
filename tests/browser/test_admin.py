"""The admin as support staff use it, in the browser at 1280 pixels: the product's name, only the product's models,
lists that fit the screen, and a car's latest data as facts with its location to about a kilometre."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import shoot, walk_connect
from tests.factories import UserFactory
from tests.helpers import support_group
from tests.vehicles.conftest import fetched
from vehicles.models import Vehicle

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.browser_context_args(viewport={"width": 1280, "height": 800}),
]

# How far the page, or the admin's scrolling box around a list, is wider than the screen.
OVERFLOW = """() => Math.max(...[document.documentElement, ...document.querySelectorAll(".results")]
  .map(element => element.scrollWidth - element.clientWidth))"""


@pytest.fixture
def support_person(password):
    person = UserFactory(email="support@example.com", is_staff=True)
    person.groups.add(support_group())
    return person


def admin_sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/admin/")
    expect(page).to_have_title(re.compile(r"Garage support$"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_support_staff_see_the_product_in_lists_that_fit_and_a_cars_facts_with_a_coarse_location(
    page: Page, site, alice, password, support_person
):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/login")
    walk_connect(page)
    bolt = fetched(Vehicle.objects.get(owner=alice, make="CHEVROLET"))
    page.get_by_role("button", name="Sign out").click()

    admin_sign_in(page, support_person.email, password)
    expect(page.get_by_role("link", name="Garage support")).to_be_visible()
    expect(page.get_by_role("heading", name="People, connections and cars")).to_be_visible()
    # The emulator's models are for development; support staff see the product's.
    expect(page.locator("#content-main caption")).to_have_text(["Accounts", "Vehicles"])

    page.get_by_role("link", name="Smartcar connections").click()
    expect(page.get_by_role("link", name=re.compile(rf"^Smartcar account of {alice.email} \("))).to_be_visible()
    assert page.evaluate(OVERFLOW) <= 0

    page.goto("/admin/vehicles/vehicle/")
    table = page.locator("#result_list")
    expect(table.get_by_role("columnheader")).to_contain_text(["Vehicle", "VIN"])
    expect(table.get_by_role("link", name=str(bolt))).to_be_visible()
    assert page.evaluate(OVERFLOW) <= 0

    table.get_by_role("link", name=str(bolt)).click()
    expect(page.get_by_role("heading", name="What the car reported")).to_be_visible()
    facts = page.locator("table.vehicle-facts")
    expect(facts.get_by_role("row", name=re.compile(r"^Battery"))).to_contain_text(re.compile(r"\d+ %"))
    location = facts.get_by_role("row", name=re.compile(r"^Location"))
    expect(location).to_contain_text(re.compile(r"-?\d+\.\d{2}, -?\d+\.\d{2} \(to about a kilometre\)"))
    expect(location).not_to_contain_text(re.compile(r"\d+\.\d{3}"))
    assert page.evaluate(OVERFLOW) <= 0
    shoot(page, "admin-vehicle")
