"""What keyboard and screen-reader users rely on: a visible focus, a way past the navigation, forms usable from the
keyboard, labelled fields with their errors next to them; and axe-core's verdict on the pages people use most."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import axe_violations, connect_with_weeks_of_history, sign_in
from tests.vehicles.conftest import fetched
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db(transaction=True)

FOCUSED = """() => {
  const element = document.activeElement, style = getComputedStyle(element);
  return {
    text: element.textContent.trim(), name: element.name || "",
    outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
  };
}"""


def tab_to(page: Page, wanted, *, presses: int = 15) -> dict:
    """Press Tab until the focused element satisfies `wanted`; returns what is focused and its outline."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if wanted(focused):
            return focused
    raise AssertionError(f"Tab never reached the element; last focused: {focused}")


def assert_focus_visible(focused: dict) -> None:
    assert focused["outline"] not in {"none", "hidden"}, focused
    assert focused["width"] >= 2, focused


def test_signing_in_with_the_keyboard_alone_shows_where_the_focus_is(page: Page, site, alice, password):
    page.goto("/")

    assert_focus_visible(tab_to(page, lambda element: element["text"] == "Sign in"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert_focus_visible(tab_to(page, lambda element: element["name"] == "username"))
    page.keyboard.type(alice.email)
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED)["name"] == "password"
    page.keyboard.type(password)
    page.keyboard.press("Enter")

    expect(page.get_by_role("navigation", name="Main")).to_contain_text(alice.email)
    assert_focus_visible(tab_to(page, lambda element: element["text"] == "Connect a car"))
    assert_focus_visible(tab_to(page, lambda element: element["text"] == "Sign out"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()


def labels_of_fields(page: Page) -> dict[str, str]:
    """Each visible form field in the page's main part, by name, with the text of its labels."""
    fields = page.get_by_role("main").locator("input:not([type=hidden]), select, textarea")
    return {
        field.get_attribute("name"): field.evaluate("el => Array.from(el.labels, l => l.textContent.trim()).join(' ')")
        for field in fields.all()
    }


def assert_every_field_labelled(page: Page) -> None:
    labels = labels_of_fields(page)
    assert labels, page.url
    for name, label in labels.items():
        assert label, f"{page.url}: the field {name} has no label"
        assert page.get_by_label(label, exact=True).get_attribute("name") == name


def test_every_field_of_sign_up_sign_in_and_profile_has_a_label(page: Page, site, alice, password):
    page.goto("/accounts/signup/")
    assert_every_field_labelled(page)
    page.goto("/accounts/login/")
    assert_every_field_labelled(page)
    sign_in(page, alice.email, password)
    page.goto("/accounts/profile/")
    assert_every_field_labelled(page)


def test_a_refused_sign_up_shows_each_error_next_to_its_field(page: Page, site, alice, password):
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password confirmation").fill("something else")
    page.get_by_role("button", name="Sign up").click()

    email = page.get_by_label("Email")
    expect(email).to_have_value(alice.email)
    expect(email).to_have_attribute("aria-invalid", "true")
    # Read out with the field, and shown right under it.
    expect(email).to_have_accessible_description("An account with this email address already exists.")
    expect(email.locator("xpath=following-sibling::*[1]")).to_have_text(
        "An account with this email address already exists."
    )
    confirmation = page.get_by_label("Password confirmation")
    expect(confirmation).to_have_attribute("aria-invalid", "true")
    expect(confirmation).to_have_accessible_description(
        "Enter the same password as before, for verification. The two password fields didn\u2019t match."
    )
    expect(page.get_by_label("Password", exact=True)).to_have_accessible_description(
        re.compile("at least 8 characters")
    )


def test_axe_finds_nothing_serious_on_sign_in_the_garage_a_vehicle_and_the_admins_vehicle_page(
    page: Page, site, control, alice, password, admin_user, csp_violations
):
    page.goto("/accounts/login/")
    assert axe_violations(page, csp_violations) == [], "sign-in"
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert axe_violations(page, csp_violations) == [], "sign-in, refused"

    bolt = connect_with_weeks_of_history(page, control, alice, password)
    for vehicle in Vehicle.objects.filter(owner=alice).exclude(pk=bolt.pk):
        fetched(vehicle)
    page.goto("/vehicles/")
    expect(page.locator(".garage dl")).to_have_count(3)
    assert axe_violations(page, csp_violations) == [], "the garage"
    page.goto(f"/vehicles/{bolt.pk}/")
    page.get_by_text("Battery as a table").click()
    assert axe_violations(page, csp_violations) == [], "a vehicle's page"
    page.get_by_role("button", name="Sign out").click()

    page.goto(f"/admin/vehicles/vehicle/{bolt.pk}/change/")
    page.get_by_label("Email").fill(admin_user.email)
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="What the car reported")).to_be_visible()
    assert axe_violations(page, csp_violations) == [], "the admin's vehicle page"


def test_the_skip_link_is_the_first_stop_and_takes_the_focus_to_the_content(page: Page, site):
    page.goto("/")

    page.keyboard.press("Tab")
    focused = page.evaluate(FOCUSED)
    assert focused["text"] == "Skip to the content"
    assert_focus_visible(focused)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED)["text"] == "Create an account"
