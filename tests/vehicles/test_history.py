"""A car's history: one reading each time battery or fuel level, a range, the odometer or charging changes, whether a
fetch or a webhook push brought it; drawn on the vehicle page as charts with a summary and a table; pruned after
VEHICLE_HISTORY_DAYS; the page's queries do not grow with it."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from tests.factories import VehicleFactory
from tests.helpers import ALL_SCOPES, take_queued_tasks
from tests.vehicles.conftest import fetched
from tests.vehicles.histories import live_the_weeks, start_in_the_past
from tests.vehicles.test_webhooks import charge_signal, deliver, process_queued, vehicle_state
from vehicles import charts, tasks
from vehicles.models import Reading, Vehicle
from vehicles.services import history

pytestmark = pytest.mark.django_db(transaction=True)

EPOCH_MS = 1_800_000_000_000


@pytest.fixture
def bolt(alice_client, alice, connect_car, settings, control) -> Vehicle:
    """alice's Chevrolet Bolt EV, plugged in and not charging: it neither drives nor charges until told to."""
    settings.SMARTCAR_SCOPES = ALL_SCOPES
    settings.SMARTCAR_MANAGEMENT_TOKENS = ["management-token-current"]
    connect_car(alice_client)
    vehicle = Vehicle.objects.select_related("connection").get(owner=alice, make="CHEVROLET")
    path = f"vehicles/{vehicle.smartcar_vehicle_id}"
    assert control("PATCH", path, json={"is_plugged_in": True, "is_charging": False, "state_of_charge": 0.5}).ok
    take_queued_tasks()  # the first fetch a new car gets: these tests fetch when they mean to
    return vehicle


def test_a_fetch_that_changes_a_tracked_signal_records_a_reading_and_one_that_changes_nothing_does_not(bolt, control):
    first = fetched(bolt)
    fetched(bolt)

    [reading] = Reading.objects.filter(vehicle=bolt)
    signals = first.data["signals"]
    assert reading.battery_percent == 50
    assert reading.electric_range_km == round(signals["tractionbattery-range"]["body"]["value"])
    assert reading.odometer_km == round(signals["odometer-traveleddistance"]["body"]["value"])
    assert reading.charging is False
    assert (reading.fuel_percent, reading.fuel_range_km) == (None, None)  # an electric car
    # The car's own time of the newest of them.
    assert reading.recorded_at == max(
        datetime.fromisoformat(signal["oem_updated_at"] or signal["retrieved_at"])
        for code, signal in signals.items()
        if code in {code for code, _ in history.TRACKED.values()}
    )

    assert control("PATCH", f"vehicles/{bolt.smartcar_vehicle_id}", json={"is_charging": True}).ok
    fetched(bolt)

    assert list(Reading.objects.filter(vehicle=bolt).order_by("pk").values_list("charging", flat=True)) == [
        False,
        True,
    ]


def test_a_value_the_car_could_not_give_is_not_a_change(bolt, control):
    fetched(bolt)
    assert control("PATCH", f"vehicles/{bolt.smartcar_vehicle_id}", json={"is_asleep": True}).ok

    asleep = fetched(bolt)

    assert asleep.data["signals"]["tractionbattery-stateofcharge"]["status"] != "SUCCESS"
    assert Reading.objects.filter(vehicle=bolt).count() == 1


def test_a_webhook_push_records_a_reading_at_the_cars_own_time_and_an_older_one_records_nothing(client, bolt):
    fetched(bolt)
    newer = vehicle_state(bolt, [charge_signal(64, EPOCH_MS + 60_000)])
    older = vehicle_state(bolt, [charge_signal(10, EPOCH_MS)])

    assert deliver(client, newer).status_code == 200
    assert deliver(client, older).status_code == 200
    process_queued()

    latest = Reading.objects.filter(vehicle=bolt).latest("pk")
    assert Reading.objects.filter(vehicle=bolt).count() == 2
    assert latest.battery_percent == 64
    assert latest.recorded_at.timestamp() * 1000 == EPOCH_MS + 60_000
    # What the push did not carry is what the car last said.
    assert latest.odometer_km == Reading.objects.filter(vehicle=bolt).earliest("pk").odometer_km


def test_readings_older_than_the_retention_are_pruned_every_hour(alice, settings):
    settings.VEHICLE_HISTORY_DAYS = 30
    vehicle = VehicleFactory(connection__owner=alice)
    now = timezone.now()
    for days in (31, 29, 1):
        Reading.objects.create(vehicle=vehicle, recorded_at=now - timedelta(days=days), battery_percent=days)

    tasks.prune_history.apply()

    assert sorted(Reading.objects.values_list("battery_percent", flat=True)) == [1, 29]
    schedule = django_settings.CELERY_BEAT_SCHEDULE["prune-vehicle-history"]
    assert (schedule["task"], schedule["schedule"]) == (tasks.prune_history.name, 3600)


def test_three_weeks_of_driving_and_charging_make_the_charts_of_an_electric_car(
    alice_client, alice, connect_car, control, settings
):
    start_in_the_past(control)
    settings.SMARTCAR_SCOPES = ALL_SCOPES
    connect_car(alice_client)
    bolt = Vehicle.objects.get(owner=alice, make="CHEVROLET")
    live_the_weeks(control, bolt)
    readings = history.recent(vehicle=bolt, days=30)

    drawn = {chart.title: chart for chart in charts.history_charts(readings=readings, units="metric", days=30)}

    assert list(drawn) == ["Battery", "Range", "Odometer", "Charging"]
    battery = [reading.battery_percent for reading in readings]
    summary = drawn["Battery"].summary
    assert summary.startswith(f"Battery: {battery[-1]:.0f} % at the last reading; over the last 30 days between")
    assert f"{min(battery):.0f} %" in summary
    assert f"{max(battery):.0f} %" in summary
    driven = readings[-1].odometer_km - readings[0].odometer_km
    assert drawn["Odometer"].summary.startswith(f"{driven:,.0f} km driven between")
    assert drawn["Charging"].summary == "Charged 2 times in the last 30 days, about 10 hours in all."
    # The table: one row a day with a reading, newest first; the line: a step at each change, on to today.
    assert drawn["Battery"].rows[0][3] == f"{battery[-1]:.0f} %"
    assert len(drawn["Battery"].rows) == len({timezone.localtime(r.recorded_at).date() for r in readings})
    points = drawn["Battery"].points.split()
    changes = sum(1 for before, after in itertools.pairwise(battery) if after != before)
    assert len(points) == 2 * changes + 2
    assert float(points[-1].split(",")[0]) == charts.RIGHT
    assert [band_width > 0 for _, band_width in drawn["Charging"].bands] == [True, True]

    imperial = charts.history_charts(readings=readings, units="imperial", days=30)
    assert imperial[2].summary.startswith(f"{driven / 1.609344:,.0f} mi driven")


def test_the_vehicle_page_draws_the_charts_accessibly_and_its_queries_do_not_grow_with_history(
    alice_client, alice, django_assert_num_queries
):
    vehicle = VehicleFactory(connection__owner=alice, connection__scopes=ALL_SCOPES)
    url = reverse("vehicles:detail", args=[vehicle.pk])
    now = timezone.now()

    def read_page(readings: int) -> str:
        Reading.objects.bulk_create(
            Reading(vehicle=vehicle, recorded_at=now - timedelta(hours=hour), battery_percent=hour % 100)
            for hour in range(readings)
        )
        with django_assert_num_queries(5):  # session, user, vehicle, recent commands, readings
            html = alice_client.get(url).content.decode()
        Reading.objects.all().delete()
        return html

    small, large = read_page(2), read_page(24 * 30)

    for html in (small, large):
        assert '<h2 id="history-heading">The last 30 days</h2>' in html
        assert '<figure class="chart" aria-labelledby="chart-battery-title">' in html
        assert re.search(
            r'<svg class="chart-drawing" viewBox="[\d ]+" role="img" '
            r'aria-labelledby="chart-battery-title chart-battery-summary"',
            html,
        )
        assert "<summary>Battery as a table</summary>" in html
    assert large.count("<tr>") > small.count("<tr>")


def test_history_is_only_ever_the_owners(alice_client, bob):
    vehicle = VehicleFactory(connection__owner=bob)
    Reading.objects.create(vehicle=vehicle, recorded_at=timezone.now(), battery_percent=42)

    assert alice_client.get(reverse("vehicles:detail", args=[vehicle.pk])).status_code == 404
    assert alice_client.get(reverse("vehicles:detail-live", args=[vehicle.pk])).status_code == 404


def test_time_travel_keeps_the_window_to_the_last_thirty_days(alice):
    vehicle = VehicleFactory(connection__owner=alice)
    now = timezone.now()
    Reading.objects.create(vehicle=vehicle, recorded_at=now - timedelta(days=31), battery_percent=1)
    Reading.objects.create(vehicle=vehicle, recorded_at=now - timedelta(days=29), battery_percent=2)

    with time_machine.travel(now, tick=False):
        assert [reading.battery_percent for reading in history.recent(vehicle=vehicle, days=30)] == [2]
