"""What the pages say, worked out in Python: ages, Smartcar's errors in a driver's words, commands by the car's
state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.helpers import ALL_SCOPES
from tests.vehicles.conftest import fetched
from vehicles.models import Vehicle
from vehicles.presentation import SMARTCAR_ERRORS, offered_commands, smartcar_error_message
from vehicles.templatetags.vehicles import age


def test_age_says_just_now_under_a_minute_then_how_long_ago():
    now = timezone.now()

    assert age(now - timedelta(seconds=5)) == "just now"
    assert age(now - timedelta(minutes=3)) == "3\xa0minutes ago"
    assert age(None) == ""


# Every error Smartcar documents (smartcar.com/docs/api-reference/api-errors and the pages under
# smartcar.com/docs/errors/api-errors), by type and code; "" where the code is null.
DOCUMENTED_ERRORS = {
    "AUTHENTICATION": [""],
    "BILLING": ["INVALID_PLAN", "VEHICLE_LIMIT", "VEHICLE_REQUEST_LIMIT", "ACCOUNT_SUSPENDED"],
    "COMPATIBILITY": ["MAKE_NOT_COMPATIBLE", "SMARTCAR_NOT_CAPABLE", "VEHICLE_NOT_CAPABLE", "PLATFORM_NOT_CAPABLE"],
    "CONNECTED_SERVICES_ACCOUNT": [
        "ACCOUNT_ISSUE",
        "AUTHENTICATION_FAILED",
        "NO_VEHICLES",
        "PERMISSION",
        "SUBSCRIPTION",
        "VEHICLE_MISSING",
        "VIRTUAL_KEY_REQUIRED",
    ],
    "PERMISSION": [""],
    "RATE_LIMIT": ["SMARTCAR_API", "VEHICLE"],
    "RESOURCE_NOT_FOUND": ["PATH", "VERSION"],
    "SERVER": ["INTERNAL", "MULTIPLE_RECORDS_FOUND", "RECORD_NOT_FOUND"],
    "UPSTREAM": ["INVALID_DATA", "KNOWN_ISSUE", "NO_RESPONSE", "RATE_LIMIT", "UNKNOWN_ISSUE"],
    "VALIDATION": ["", "PARAMETER"],
    "VEHICLE_STATE": [
        "ASLEEP",
        "CHARGING_IN_PROGRESS",
        "CHARGING_PLUG_CONNECTED",
        "CHARGING_PLUG_NOT_CONNECTED",
        "CHARGE_FAULT",
        "DOOR_OPEN",
        "FULLY_CHARGED",
        "HOOD_OPEN",
        "IGNITION_ON",
        "IN_MOTION",
        "LOW_BATTERY",
        "NOT_CHARGING",
        "REMOTE_ACCESS_DISABLED",
        "TRUNK_OPEN",
        "UNKNOWN",
        "UNREACHABLE",
        "VEHICLE_OFFLINE_FOR_SERVICE",
    ],
}


@pytest.mark.parametrize(
    ("error_type", "code"), [(error_type, code) for error_type, codes in DOCUMENTED_ERRORS.items() for code in codes]
)
def test_every_documented_smartcar_error_has_a_sentence_of_its_own(error_type, code):
    sentence = smartcar_error_message(error_type=error_type, code=code)

    assert sentence == SMARTCAR_ERRORS[(error_type, code)]
    assert sentence.endswith(".")
    assert "<" not in sentence  # nothing of Smartcar's "<app name>" placeholders


def test_the_sentences_drivers_asked_for_say_what_to_do():
    def said(code: str) -> str:
        return smartcar_error_message(error_type="VEHICLE_STATE", code=code)

    assert said("CHARGING_PLUG_NOT_CONNECTED") == "Your car is not plugged in: plug it in to charge."
    assert said("NOT_CHARGING") == "Your car is not charging, so there is nothing to stop."
    assert said("ASLEEP").startswith("Your car is asleep")
    assert said("UNREACHABLE").startswith("Your car is out of reach")


def test_a_code_smartcar_adds_later_reads_as_its_type_and_an_untyped_failure_as_nothing():
    assert smartcar_error_message(error_type="VEHICLE_STATE", code="SOMETHING_NEW") == (
        "Your car could not do that in its current state. Try again later."
    )
    assert smartcar_error_message(error_type=None, code=None) is None
    assert smartcar_error_message(error_type="SOMETHING_NEW", code="X") is None


@pytest.fixture
def bolt(alice_client, alice, connect_car, settings, control):
    """alice's Chevrolet Bolt EV from the emulator, every permission; state(...) sets its state and fetches it."""
    settings.SMARTCAR_SCOPES = ALL_SCOPES
    connect_car(alice_client)
    vehicle = Vehicle.objects.get(owner=alice, make="CHEVROLET")

    def state(**values) -> dict:
        assert control("PATCH", f"vehicles/{vehicle.smartcar_vehicle_id}", json=values).ok
        return fetched(vehicle).data["signals"]

    return state


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("state", "offered", "notes"),
    [
        ({"is_locked": True, "is_plugged_in": False}, ["unlock"], ["Plug the car in to start charging it from here."]),
        ({"is_locked": False, "is_plugged_in": True, "is_charging": False}, ["lock", "start_charge"], []),
        ({"is_locked": True, "is_plugged_in": True, "is_charging": True}, ["unlock", "stop_charge"], []),
        # Asleep, it says neither: everything is offered, the car's answer says what it can do.
        ({"is_asleep": True}, ["lock", "unlock", "start_charge", "stop_charge"], []),
    ],
)
def test_commands_are_offered_by_the_cars_state(bolt, state, offered, notes):
    offers, said = offered_commands(signals=bolt(**state), scopes=ALL_SCOPES)

    assert [offer.action for offer in offers] == offered
    assert said == notes


@pytest.mark.django_db(transaction=True)
def test_no_command_is_offered_without_the_permission_for_it(bolt):
    signals = bolt(is_locked=True, is_plugged_in=True)

    assert offered_commands(signals=signals, scopes=["read_security", "read_charge"]) == ([], [])
    offers, _ = offered_commands(signals=signals, scopes=["control_charge"])
    assert [offer.action for offer in offers] == ["start_charge"]


@pytest.mark.django_db(transaction=True)
def test_a_car_without_charging_signals_is_offered_no_charging(alice_client, alice, connect_car, settings):
    settings.SMARTCAR_SCOPES = ALL_SCOPES
    connect_car(alice_client, username="big_fleet@example.com")
    camry = fetched(Vehicle.objects.get(owner=alice, make="TOYOTA", model="Camry"))

    offers, notes = offered_commands(signals=camry.data["signals"], scopes=ALL_SCOPES)

    assert {offer.action for offer in offers} <= {"lock", "unlock"}
    assert notes == []
