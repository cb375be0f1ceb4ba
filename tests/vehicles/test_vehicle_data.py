"""The vehicle page: data through the v3 signals API in a task, commands through v2, errors a person can act on."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from smartcar_emulator.models import EmulatedVehicle, RequestLog
from tests.helpers import ALL_SCOPES, take_queued_tasks
from tests.vehicles.conftest import said
from vehicles import tasks
from vehicles.models import SmartcarConnection, Vehicle, VehicleCommand
from vehicles.presentation import reconnect_path
from vehicles.services import vehicle_data

pytestmark = pytest.mark.django_db(transaction=True)

KM_PER_MILE = 1.609344
KPA_PER_PSI = 6.894757


@pytest.fixture
def connected_with(alice_client, alice, connect_car, settings):
    """connected_with(username, scopes) -> alice's vehicles after connecting that emulator account."""

    def connect(username: str = "driver@example.com", scopes: list[str] | None = None) -> list[Vehicle]:
        settings.SMARTCAR_SCOPES = scopes or ALL_SCOPES
        walk = connect_car(alice_client, username=username)
        assert walk.response.status_code == 302
        return list(Vehicle.objects.filter(owner=alice).select_related("connection"))

    return connect


def car_at_emulator(vehicle: Vehicle) -> EmulatedVehicle:
    return EmulatedVehicle.objects.get(vehicle_id=vehicle.smartcar_vehicle_id)


def calls_for(vehicle: Vehicle) -> int:
    return RequestLog.objects.filter(vehicle_id=vehicle.smartcar_vehicle_id).count()


def pick(vehicles: list[Vehicle], *, electric: bool) -> Vehicle:
    """A battery-only car, or a tank-only car."""
    for vehicle in vehicles:
        car = car_at_emulator(vehicle)
        if (car.is_electric, car.has_tank) == ((True, False) if electric else (False, True)):
            return vehicle
    raise AssertionError("no such car in the fleet")


@pytest.mark.parametrize("units", ["metric", "imperial"])
def test_the_page_shows_every_granted_signal_in_the_persons_units(alice_client, alice, connected_with, units):
    alice.unit_system = units
    alice.save()
    vehicles = connected_with("big_fleet@example.com")
    electric, fuel = pick(vehicles, electric=True), pick(vehicles, electric=False)

    with time_machine.travel(timezone.now(), tick=False):
        for vehicle in (electric, fuel):
            tasks.sync_vehicle.apply(args=[vehicle.pk])
        ev, ice = car_at_emulator(electric), car_at_emulator(fuel)
        ev_page = alice_client.get(reverse("vehicles:detail", args=[electric.pk])).content.decode()
        ice_page = alice_client.get(reverse("vehicles:detail", args=[fuel.pk])).content.decode()

    def distance(km: float) -> str:
        return f"{km / KM_PER_MILE:,.0f} mi" if units == "imperial" else f"{km:,.0f} km"

    def pressure(kpa: float) -> str:
        return f"{kpa / KPA_PER_PSI:.1f} psi" if units == "imperial" else f"{kpa:.0f} kPa"

    assert ev.vin in ev_page
    assert distance(ev.odometer_km) in ev_page
    assert f"{ev.state_of_charge * 100:.0f} %" in ev_page
    assert distance(ev.state_of_charge * ev.electric_range_km) in ev_page
    assert ("Charging" if ev.is_charging else "Not charging") in ev_page
    assert ("Plugged in" if ev.is_plugged_in else "Unplugged") in ev_page
    assert f"{ev.latitude:.5f}, {ev.longitude:.5f}" in ev_page
    assert ("Locked" if ev.is_locked else "Unlocked") in ev_page
    assert "all 4 closed" in ev_page
    assert f"front left {pressure(ev.tire_pressures_kpa[0])}" in ev_page
    assert "Fuel" not in ev_page
    # Offered as the car's state allows: plugged in and not charging.
    assert ("Start charging" in ev_page) == (ev.is_plugged_in and not ev.is_charging)

    assert distance(ice.odometer_km) in ice_page
    assert f"{ice.fuel_level * 100:.0f} %" in ice_page
    assert distance(ice.fuel_level * ice.fuel_range_km) in ice_page
    assert f"{ice.oil_life * 100:.0f} %" in ice_page
    assert "Battery" not in ice_page
    assert "Start charging" not in ice_page
    assert "just now" in ice_page  # each value carries its age


def test_a_fetch_reads_every_signal_page_through_v3_and_nothing_else(connected_with):
    vehicle = connected_with()[0]
    before = calls_for(vehicle)

    tasks.sync_vehicle.apply(args=[vehicle.pk])

    calls = list(RequestLog.objects.filter(vehicle_id=vehicle.smartcar_vehicle_id).order_by("pk")[before:])
    total = len(Vehicle.objects.get(pk=vehicle.pk).data["signals"])
    # Smartcar's documented page size is 10: one call per page of signals, no other call.
    assert len(calls) == -(-total // 10)
    assert all(f"/v3/vehicles/{vehicle.smartcar_vehicle_id}/signals" in call.path for call in calls)


def test_the_page_hides_what_was_not_granted(alice_client, connected_with, settings):
    vehicle = connected_with(scopes=["read_vehicle_info", "read_odometer"])[0]
    tasks.sync_vehicle.apply(args=[vehicle.pk])
    settings.SMARTCAR_SCOPES = ALL_SCOPES

    page = alice_client.get(reverse("vehicles:detail", args=[vehicle.pk])).content.decode()

    assert "Odometer" in page
    for hidden in ("VIN", "Battery", "Fuel", "Location", "Locks", "Tire pressure", "Lock</a>"):
        assert hidden not in page
    assert "Reconnect to share it" in page
    assert sorted(Vehicle.objects.get(pk=vehicle.pk).data["signals"]) == ["odometer-traveleddistance"]
    # The page's data part, as its script fetches it, sends the person back to the car's page, not to the JSON.
    live = alice_client.get(reverse("vehicles:detail-live", args=[vehicle.pk])).json()
    assert escape(reconnect_path(vehicle)) in live["parts"]["vehicle-live"]["html"]


def test_a_fetch_keeps_the_vin_in_its_column_and_a_fetch_without_one_keeps_the_vin_known(connected_with):
    vehicle = connected_with()[0]
    vin = car_at_emulator(vehicle).vin

    tasks.sync_vehicle.apply(args=[vehicle.pk])
    assert (vehicle.vin, Vehicle.objects.get(pk=vehicle.pk).vin) == ("", vin)

    # Connected again without read_vin: the car's data comes without its VIN, and the VIN known stays searchable.
    connected_with(scopes=["read_vehicle_info", "read_odometer"])
    tasks.sync_vehicle.apply(args=[vehicle.pk])

    stored = Vehicle.objects.get(pk=vehicle.pk)
    assert "odometer-traveleddistance" in stored.data["signals"]
    assert "vehicleidentification-vin" not in stored.data["signals"]
    assert stored.vin == vin


def test_refresh_queues_a_fetch_and_the_page_shows_it_once_it_lands(alice_client, connected_with):
    vehicle = connected_with()[0]
    before = calls_for(vehicle)

    response = alice_client.post(reverse("vehicles:refresh", args=[vehicle.pk]))

    assert response.url == reverse("vehicles:detail", args=[vehicle.pk])
    assert said(response, "Asking the car for its latest data")
    assert calls_for(vehicle) == before  # not fetched in the request
    pending = alice_client.get(response.url).content.decode()
    assert "http-equiv" not in pending  # the page updates in place (vehicles/test_live.py), never reloads itself
    assert "Updating" in pending

    tasks.sync_vehicle.apply(args=[vehicle.pk])  # what the worker does with the queued task

    landed = alice_client.get(response.url).content.decode()
    assert "Updating" not in landed
    assert "Odometer" in landed
    assert calls_for(vehicle) > before  # the signal pages, fetched by the worker


def test_a_sleeping_car_says_so(alice_client, connected_with):
    vehicle = connected_with("sleepy@example.com")[0]

    tasks.sync_vehicle.apply(args=[vehicle.pk])
    page = alice_client.get(reverse("vehicles:detail", args=[vehicle.pk])).content.decode()
    locked = alice_client.post(reverse("vehicles:command", args=[vehicle.pk, "lock"]))

    # A sleeping car still answers (Smartcar's v3: a 200 with an ERROR status on what it cannot give).
    stored = Vehicle.objects.get(pk=vehicle.pk)
    assert stored.sync_error == ""
    assert stored.data_fetched_at is not None
    assert "unavailable (the car is asleep)" in page
    assert said(locked, "Lock failed")
    assert VehicleCommand.objects.get().outcome == VehicleCommand.Outcome.FAILED


def test_a_rate_limited_vehicle_is_left_alone_until_retry_after_passes(alice_client, connected_with, emulator, control):
    vehicle = connected_with()[0]
    fault = {"vehicle_id": vehicle.smartcar_vehicle_id, "error_type": "RATE_LIMIT", "error_code": "VEHICLE"}
    assert control("POST", "faults", json={**fault, "retry_after": 30, "times": 1}).status_code in (200, 201)

    tasks.sync_vehicle.apply(args=[vehicle.pk])
    after_429 = calls_for(vehicle)

    stored = Vehicle.objects.get(pk=vehicle.pk)
    assert stored.retry_not_before > timezone.now() + timedelta(seconds=25)
    assert "wait until" in stored.sync_error
    refresh = alice_client.post(reverse("vehicles:refresh", args=[vehicle.pk]))
    assert said(refresh, "Smartcar asked us to wait until")
    tasks.sync_vehicle.apply(args=[vehicle.pk])
    lock = alice_client.post(reverse("vehicles:command", args=[vehicle.pk, "lock"]))
    assert said(lock, "Smartcar asked us to wait until")
    assert calls_for(vehicle) == after_429

    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        tasks.sync_vehicle.apply(args=[vehicle.pk])
    assert calls_for(vehicle) > after_429
    assert Vehicle.objects.get(pk=vehicle.pk).sync_error == ""


def test_lock_and_unlock_ask_first_then_reach_the_car_and_are_recorded(alice_client, alice, connected_with):
    vehicle = connected_with()[0]
    car = car_at_emulator(vehicle)
    first, second = ("unlock", "lock") if car.is_locked else ("lock", "unlock")

    confirm = alice_client.get(reverse("vehicles:command", args=[vehicle.pk, first]))
    assert confirm.status_code == 200
    assert car_at_emulator(vehicle).is_locked == car.is_locked

    for action in (first, second):
        response = alice_client.post(reverse("vehicles:command", args=[vehicle.pk, action]))
        assert response.url == reverse("vehicles:detail", args=[vehicle.pk])
        assert car_at_emulator(vehicle).is_locked == (action == "lock")

    records = list(VehicleCommand.objects.order_by("created_at").values_list("action", "outcome", "requested_by"))
    assert records == [(first, "succeeded", alice.pk), (second, "succeeded", alice.pk)]
    page = alice_client.get(reverse("vehicles:detail", args=[vehicle.pk])).content.decode()
    assert "Recent commands" in page


def test_start_and_stop_charging(alice_client, connected_with, control):
    vehicles = connected_with("big_fleet@example.com")
    vehicle = pick(vehicles, electric=True)
    control("PATCH", f"vehicles/{vehicle.smartcar_vehicle_id}", json={"is_plugged_in": True, "state_of_charge": 0.4})
    tasks.sync_vehicle.apply(args=[vehicle.pk])

    alice_client.post(reverse("vehicles:command", args=[vehicle.pk, "start_charge"]))
    assert car_at_emulator(vehicle).is_charging
    alice_client.post(reverse("vehicles:command", args=[vehicle.pk, "stop_charge"]))
    assert not car_at_emulator(vehicle).is_charging


def test_a_command_the_grant_does_not_allow_asks_to_reconnect(alice_client, connected_with):
    vehicle = connected_with(scopes=["read_vehicle_info", "read_security"])[0]
    before = calls_for(vehicle)

    refused = alice_client.post(reverse("vehicles:command", args=[vehicle.pk, "lock"]))
    assert said(refused, "Reconnect your car")
    assert calls_for(vehicle) == before

    # If the stored scopes claim more than Smartcar granted, Smartcar's PERMISSION error says the same.
    SmartcarConnection.objects.update(scopes=["read_vehicle_info", "read_security", "control_security"])
    answered = alice_client.post(reverse("vehicles:command", args=[vehicle.pk, "lock"]))
    assert said(answered, "Lock failed")
    assert calls_for(vehicle) == before + 1
    assert "reconnect" in VehicleCommand.objects.first().message.lower()


def test_a_rejected_access_token_is_refreshed_once_and_the_call_retried(connected_with, control):
    vehicle = connected_with()[0]
    token_calls = RequestLog.objects.filter(path__endswith="/auth/oauth/token").count()
    # Two hours and a bit later for Smartcar: our stored expiry says valid, Smartcar says expired.
    control("PUT", "clock", json={"offset_seconds": 2 * 3600 + 60})

    tasks.sync_vehicle.apply(args=[vehicle.pk])

    stored = Vehicle.objects.get(pk=vehicle.pk)
    assert stored.sync_error == ""
    assert stored.data_fetched_at is not None
    assert RequestLog.objects.filter(path__endswith="/auth/oauth/token").count() == token_calls + 1
    signal_calls = RequestLog.objects.filter(path__endswith="/signals").order_by("pk")
    assert [row.status_code for row in signal_calls] == [401, 200]
    assert SmartcarConnection.objects.get(pk=stored.connection_id).token_version == 2


def test_another_user_can_neither_read_nor_command_the_car(connected_with, bob):
    vehicle = connected_with()[0]
    tasks.sync_vehicle.apply(args=[vehicle.pk])
    before = calls_for(vehicle)
    bob_client = Client()
    bob_client.force_login(bob)

    for method, url in [
        ("get", reverse("vehicles:detail", args=[vehicle.pk])),
        ("post", reverse("vehicles:refresh", args=[vehicle.pk])),
        ("get", reverse("vehicles:command", args=[vehicle.pk, "unlock"])),
        ("post", reverse("vehicles:command", args=[vehicle.pk, "unlock"])),
    ]:
        assert getattr(bob_client, method)(url).status_code == 404, url

    assert calls_for(vehicle) == before
    assert not VehicleCommand.objects.exists()
    assert Vehicle.objects.get(pk=vehicle.pk).sync_requested_at is None


def test_unknown_commands_are_404(alice_client, connected_with):
    vehicle = connected_with()[0]

    assert alice_client.post(reverse("vehicles:command", args=[vehicle.pk, "self_destruct"])).status_code == 404


def test_an_hourly_periodic_fetch_by_default_and_a_minimum_interval_when_on(settings):
    from django.core.checks import run_checks

    assert settings.CELERY_BEAT_SCHEDULE["sync-vehicle-data"]["schedule"] == 60 * 60
    for minutes, errors in ((0, []), (15, []), (5, ["vehicles.E007"]), (-1, ["vehicles.E007"])):
        settings.VEHICLE_DATA_SYNC_MINUTES = minutes
        assert [e.id for e in run_checks() if e.id.startswith("vehicles.")] == errors


def test_the_periodic_fetch_picks_only_stale_vehicles(connected_with, settings):
    vehicles = connected_with()
    settings.VEHICLE_DATA_SYNC_MINUTES = 30
    fresh, stale = vehicles[0], vehicles[1]
    Vehicle.objects.filter(pk=fresh.pk).update(data_fetched_at=timezone.now() - timedelta(minutes=5))
    Vehicle.objects.filter(pk=stale.pk).update(data_fetched_at=timezone.now() - timedelta(minutes=45))

    due = vehicle_data.stale_vehicle_ids()

    assert stale.pk in due
    assert fresh.pk not in due


def test_the_periodic_fetch_leaves_cars_the_webhook_keeps_fresh(connected_with, settings):
    pushed, polled = connected_with()[:2]
    settings.VEHICLE_DATA_SYNC_MINUTES = 30
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Vehicle.objects.update(data_fetched_at=an_hour_ago)
    Vehicle.objects.filter(pk=pushed.pk).update(data_pushed_at=an_hour_ago)

    due = vehicle_data.stale_vehicle_ids()

    assert polled.pk in due
    assert pushed.pk not in due


def test_a_newly_connected_car_is_asked_for_its_data_at_once(alice, alice_client, connect_car):
    take_queued_tasks()

    connect_car(alice_client)

    vehicles = list(Vehicle.objects.filter(owner=alice))
    queued = [(task.name, task.args) for task in take_queued_tasks()]
    assert all(vehicle.sync_requested_at is not None for vehicle in vehicles)
    assert sorted(queued) == sorted((tasks.sync_vehicle.name, [vehicle.pk]) for vehicle in vehicles)
