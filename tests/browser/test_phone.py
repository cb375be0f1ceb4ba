"""The journey on a phone-sized screen: everything fits its width, nothing scrolls sideways, and the garage shows
five cars on one screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, shoot, sign_up, walk_connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser_context_args(**PHONE)]

SIDEWAYS = """() => [document.documentElement, ...document.querySelectorAll(".table-wrap")]
  .filter(element => element.scrollWidth > element.clientWidth)
  .map(element => `${element.tagName.toLowerCase()}.${element.className}: ${element.scrollWidth}px`)"""

# How much of the screen the first five cars take, from the top of the first to the bottom of the fifth.
FIVE_CARS_HEIGHT = """() => {
  const cars = document.querySelectorAll(".garage .car");
  return cars[4].getBoundingClientRect().bottom - cars[0].getBoundingClientRect().top;
}"""


def assert_nothing_scrolls_sideways(page: Page) -> None:
    assert page.evaluate(SIDEWAYS) == [], page.url


def test_the_journey_fits_a_phone_screen(page: Page, site, worker, password):
    page.goto("/")
    assert_nothing_scrolls_sideways(page)
    sign_up(page, "phone@example.com", password)
    assert_nothing_scrolls_sideways(page)

    page.get_by_role("link", name="Connect a car").first.click()
    page.get_by_role("button", name="Chevrolet").wait_for()
    assert_nothing_scrolls_sideways(page)
    walk_connect(page, username="big_fleet@example.com")
    expect(page.get_by_role("status")).to_have_text("12 vehicles connected.")
    expect(page.locator("[data-live-status]")).to_have_text("Every car has reported.", timeout=60_000)
    assert_nothing_scrolls_sideways(page)
    shoot(page, "vehicles-phone", full_page=False)
    assert page.evaluate(FIVE_CARS_HEIGHT) <= PHONE["viewport"]["height"]

    page.get_by_role("link", name=re.compile("CHEVROLET")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("2022 CHEVROLET Bolt EV")
    expect(page.get_by_role("row", name=re.compile(r"^Tire pressure"))).to_contain_text("front left")
    assert_nothing_scrolls_sideways(page)
    page.get_by_role("link", name=re.compile(r"^(Lock|Unlock)$")).first.click()
    assert_nothing_scrolls_sideways(page)
    page.get_by_role("button", name=re.compile(r"^(Lock|Unlock)$")).click()
    expect(page.locator(".message-success")).to_contain_text(re.compile(r"^(Lock|Unlock):"))
    assert_nothing_scrolls_sideways(page)

    page.get_by_role("link", name="phone@example.com").click()
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    assert_nothing_scrolls_sideways(page)
    page.get_by_role("link", name="Delete my account…").click()
    assert_nothing_scrolls_sideways(page)
    page.get_by_label("Your password").fill(password)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("status")).to_have_text("Your account and everything in it were deleted.")
