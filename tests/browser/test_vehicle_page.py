"""A car's page in the browser: a month of history drawn as charts anyone can read, the commands its state allows,
Smartcar's refusals in a driver's words, and what was sent when and by whom."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import connect_with_weeks_of_history, shoot, sign_in, walk_connect
from tests.vehicles.conftest import fetched
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_month_of_history_is_drawn_as_charts_with_a_summary_and_a_table(page: Page, site, control, alice, password):
    bolt = connect_with_weeks_of_history(page, control, alice, password)

    page.goto(f"/vehicles/{bolt.pk}/")

    history = page.get_by_role("region", name="The last 30 days")
    battery = history.get_by_role("figure", name="Battery")
    summary = re.compile(r"^Battery: \d+ % at the last reading; over the last 30 days between \d+ % \(\d+ \w+\) and")
    expect(battery.locator("p")).to_have_text(summary)
    # The drawing is one image named by the chart's title and its summary.
    drawing = battery.get_by_role("img")
    expect(drawing).to_have_accessible_name(re.compile(r"^Battery Battery: \d+ %"))
    assert drawing.evaluate("el => el.tagName") == "svg"
    # Its data, behind a disclosure: a row a day, lowest, highest and last.
    table = battery.get_by_role("table")
    expect(table).to_be_hidden()
    battery.get_by_text("Battery as a table").click()
    expect(table).to_be_visible()
    expect(table.get_by_role("columnheader")).to_have_text(["Day", "Lowest", "Highest", "Last"])
    assert table.locator("tbody tr").count() >= 10
    odometer = history.get_by_role("figure", name="Odometer")
    expect(odometer.locator("p")).to_have_text(re.compile(r"^[\d,]+ km driven between \d+ \w+ and \d+ \w+"))
    charging = history.get_by_role("figure", name="Charging")
    expect(charging.locator("p")).to_have_text(re.compile(r"^Charged 2 times in the last 30 days, about \d+ hours"))
    expect(history.get_by_role("figure", name="Fuel")).to_have_count(0)  # an electric car
    shoot(page, "vehicle")


def test_commands_are_offered_by_the_cars_state_and_refusals_read_as_a_driver_would_say(
    page: Page, site, control, alice, password
):
    sign_in(page, alice.email, password)
    page.goto("/login")
    walk_connect(page)
    bolt = Vehicle.objects.get(owner=alice, make="CHEVROLET")
    path = f"vehicles/{bolt.smartcar_vehicle_id}"
    assert control("PATCH", path, json={"is_locked": True, "is_plugged_in": False}).ok
    fetched(bolt)

    page.goto(f"/vehicles/{bolt.pk}/")
    commands = page.get_by_role("region", name="Commands")
    expect(commands.get_by_role("link")).to_have_text(["Unlock"])
    expect(commands).to_contain_text("Plug the car in to start charging it from here.")

    commands.get_by_role("link", name="Unlock").click()
    page.get_by_role("button", name="Unlock").click()
    expect(page.get_by_role("status")).to_have_text("Unlock: Your car is unlocked.")
    fetched(bolt)  # what the worker does with the fetch the command queued
    assert control("PATCH", path, json={"is_plugged_in": True}).ok
    fetched(bolt)
    page.reload()
    expect(commands.get_by_role("link")).to_have_text(["Lock", "Start charging"])

    # Smartcar refuses: the car was unplugged in the meantime.
    fault = {"path": "charge", "error_type": "VEHICLE_STATE", "error_code": "CHARGING_PLUG_NOT_CONNECTED", "times": 1}
    assert control("POST", "faults", json=fault).ok
    commands.get_by_role("link", name="Start charging").click()
    page.get_by_role("button", name="Start charging").click()
    expect(page.get_by_role("status")).to_have_text(
        "Start charging failed: Your car is not plugged in: plug it in to charge."
    )

    recent = commands.get_by_role("list")
    expect(recent.get_by_role("listitem")).to_have_count(2)
    latest = recent.get_by_role("listitem").first
    when = r"\d{1,2} \w+ \d{4}, \d{2}:\d{2} UTC"
    expect(latest).to_contain_text(re.compile(rf"Start charging: failed\s+· {when}\s+· by you"))
    expect(latest).to_contain_text("Your car is not plugged in: plug it in to charge.")
    expect(recent.get_by_role("listitem").last).to_contain_text(re.compile(r"Unlock: succeeded\s+· .*\s+· by you"))
