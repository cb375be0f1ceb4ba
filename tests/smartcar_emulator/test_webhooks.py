"""The emulator's webhooks over real HTTP: the emulator in the live server delivers to a receiving server of the test's
own (or to the product's receiver), its deliveries run as its worker runs them and its retries driven by its clock.
Shapes from Smartcar's documentation: VERIFY (smartcar.com/docs/api-reference/webhooks/event-types), VEHICLE_STATE
version 4.0 (…/integrations/webhooks/responses), VEHICLE_ERROR (…/api-reference/webhooks/events/vehicle-error); the
subscription calls as the SDK makes and reads them (smartcar/vehicle.py, v2_response.py)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
import smartcar
from django.urls import reverse

from smartcar_emulator import webhooks
from smartcar_emulator.models import WebhookEvent
from tests.helpers import ALL_SCOPES, local_path, take_queued_tasks
from tests.smartcar_emulator.conftest import MANAGEMENT_TOKEN, WEBHOOK_ID, Delivery
from tests.vehicles.conftest import walk_to_callback
from vehicles.models import Vehicle
from vehicles.tasks import process_webhook_event

pytestmark = pytest.mark.django_db(transaction=True)

FIRST_DELIVERY = [{"type": "FIRST_DELIVERY"}]


@pytest.fixture
def ev(connected, control) -> smartcar.Vehicle:
    """An electric car, connected with every permission, unplugged."""
    token = connected("big_fleet", ALL_SCOPES).access_token
    cars = control("GET", "users/big_fleet/vehicles").json()["vehicles"]
    vehicle_id = next(car["vehicle_id"] for car in cars if car["powertrain"] == "BEV")
    control("PATCH", f"vehicles/{vehicle_id}", json={"is_plugged_in": False})
    return smartcar.Vehicle(vehicle_id, token)


def signed(delivery: Delivery) -> bool:
    """Whether SC-Signature is the HMAC of the raw body under the management token, by hand and by the SDK."""
    signature = delivery.headers["sc-signature"]
    expected = hmac.new(MANAGEMENT_TOKEN.encode(), delivery.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, expected) and smartcar.verify_payload(
        MANAGEMENT_TOKEN, signature, delivery.body.decode()
    )


def named_triggers(delivery: Delivery) -> set[str]:
    return {trigger["signal"]["code"] for trigger in delivery.payload["triggers"]}


def test_setting_up_a_webhook_sends_verify_and_checks_the_answer(webhook, receiver):
    created = webhook()

    [verify] = receiver.deliveries
    assert verify.payload["eventType"] == "VERIFY"
    assert verify.payload["data"]["challenge"]
    assert verify.payload["meta"]["webhookId"] == WEBHOOK_ID
    assert signed(verify)
    assert (created["verification"], created["verification_detail"]) == ("verified", None)
    assert created["management_token"] == f"{MANAGEMENT_TOKEN[:6]}…"


def test_a_webhook_that_answers_verify_wrongly_stays_unverified_until_verified_again(webhook, receiver, control):
    receiver.answers_verify = False
    created = webhook()
    receiver.answers_verify = True

    again = control("POST", f"webhooks/{WEBHOOK_ID}/verify").json()

    assert created["verification"] == "failed"
    assert "HMAC" in created["verification_detail"]
    assert again["verification"] == "verified"
    assert len(receiver.of_type("VERIFY")) == 2


def test_subscribing_with_the_sdk_brings_a_signed_first_delivery_of_every_subscribed_signal(
    ev, webhook, receiver, control, run_deliveries
):
    signals = [
        "odometer-traveleddistance",
        "tractionbattery-stateofcharge",
        "charge-ischarging",
        "internalcombustionengine-fuellevel",
        "closure-islocked",
    ]
    webhook(signals=signals, triggers=["closure-islocked"])

    subscribed = ev.subscribe(WEBHOOK_ID)
    run_deliveries()

    assert (subscribed.webhook_id, subscribed.vehicle_id) == (WEBHOOK_ID, ev.vehicle_id)
    [first] = receiver.of_type("VEHICLE_STATE")
    payload = first.payload
    assert payload["triggers"] == FIRST_DELIVERY
    assert payload["vehicleId"] == payload["data"]["vehicle"]["id"] == ev.vehicle_id
    assert payload["data"]["user"]["id"] == control("GET", "users/big_fleet/vehicles").json()["user_id"]
    by_code = {signal["code"]: signal for signal in payload["data"]["signals"]}
    assert list(by_code) == signals
    battery = by_code["tractionbattery-stateofcharge"]
    assert battery["status"] == {"value": "SUCCESS"}
    assert battery["body"]["unit"] == "percent"
    assert battery["meta"]["oemUpdatedAt"] > 1_600_000_000_000  # epoch milliseconds
    # An electric car has no tank: the signal is there, with Smartcar's error instead of a body.
    tank = by_code["internalcombustionengine-fuellevel"]
    assert tank["status"] == {"value": "ERROR", "error": {"type": "COMPATIBILITY", "code": "VEHICLE_NOT_CAPABLE"}}
    assert "body" not in tank
    meta = payload["meta"]
    assert (meta["version"], meta["webhookId"], meta["signalCount"]) == ("4.0", WEBHOOK_ID, 5)
    assert meta["deliveryId"]
    assert first.headers["content-type"] == "application/json"
    assert signed(first)

    ev.subscribe(WEBHOOK_ID)
    run_deliveries()
    assert len(receiver.of_type("VEHICLE_STATE")) == 1, "a second subscription of a subscribed car sends nothing"


@pytest.mark.parametrize(
    ("action", "body", "triggers", "named"),
    [
        (
            "drive",
            {"km": 30},
            ["odometer-traveleddistance", "tractionbattery-stateofcharge", "closure-islocked"],
            {"odometer-traveleddistance", "tractionbattery-stateofcharge"},
        ),
        ("plug-in", {}, ["charge-ischargingcableconnected", "closure-islocked"], {"charge-ischargingcableconnected"}),
        (
            "charge",
            {"percent": 80},
            ["tractionbattery-stateofcharge", "charge-ischargingcableconnected", "closure-islocked"],
            {"tractionbattery-stateofcharge", "charge-ischargingcableconnected"},
        ),
    ],
)
def test_a_change_of_trigger_signals_sends_vehicle_state_naming_them_with_every_subscribed_signal(
    ev, webhook, receiver, control, run_deliveries, action, body, triggers, named
):
    signals = [*triggers, "vehicleidentification-vin"]
    webhook(signals=signals, triggers=triggers)
    ev.subscribe(WEBHOOK_ID)
    run_deliveries()

    control("POST", f"vehicles/{ev.vehicle_id}/{action}", json=body)
    run_deliveries()

    first, changed = receiver.of_type("VEHICLE_STATE")
    assert named_triggers(changed) == named
    assert {signal["code"] for signal in changed.payload["data"]["signals"]} == set(signals)
    assert changed.payload["eventId"] != first.payload["eventId"]
    assert signed(changed)
    if action == "charge":
        [battery] = [s for s in changed.payload["data"]["signals"] if s["code"] == "tractionbattery-stateofcharge"]
        assert battery["body"]["value"] == 80


def test_a_command_is_a_change_too_and_a_change_of_no_trigger_sends_nothing(
    ev, webhook, receiver, control, run_deliveries
):
    webhook(signals=["closure-islocked", "charge-ischargingcableconnected"], triggers=["closure-islocked"])
    ev.subscribe(WEBHOOK_ID)
    run_deliveries()

    control("POST", f"vehicles/{ev.vehicle_id}/plug-in")
    run_deliveries()
    ev.unlock()
    run_deliveries()

    _first_delivery, unlocked = receiver.of_type("VEHICLE_STATE")
    assert named_triggers(unlocked) == {"closure-islocked"}
    by_code = {signal["code"]: signal["body"]["value"] for signal in unlocked.payload["data"]["signals"]}
    assert by_code == {"closure-islocked": False, "charge-ischargingcableconnected": True}


def test_a_car_put_to_sleep_sends_vehicle_error_and_resolved_when_it_wakes(
    ev, webhook, receiver, control, run_deliveries
):
    webhook(triggers=["closure-islocked"])
    ev.subscribe(WEBHOOK_ID)
    run_deliveries()

    control("POST", f"vehicles/{ev.vehicle_id}/sleep")
    run_deliveries()
    control("POST", f"vehicles/{ev.vehicle_id}/wake")
    run_deliveries()

    asleep, awake = receiver.of_type("VEHICLE_ERROR")
    [error] = asleep.payload["data"]["errors"]
    assert (error["type"], error["code"], error["state"]) == ("VEHICLE_STATE", "ASLEEP", "ERROR")
    affected = {signal["code"] for signal in error["signals"]}
    assert "tractionbattery-stateofcharge" in affected
    assert "vehicleidentification-vin" not in affected, "Smartcar knows the VIN without waking the car"
    [resolved] = awake.payload["data"]["errors"]
    assert (resolved["type"], resolved["code"], resolved["state"]) == ("VEHICLE_STATE", "ASLEEP", "RESOLVED")
    assert asleep.payload["vehicleId"] == awake.payload["vehicleId"] == ev.vehicle_id
    assert asleep.payload["eventId"] != awake.payload["eventId"]
    assert signed(asleep)
    assert signed(awake)
    assert len(receiver.of_type("VEHICLE_STATE")) == 1, "a sleeping car cannot be read: no VEHICLE_STATE"


def test_a_failed_delivery_is_retried_after_25_50_and_100_seconds_of_the_emulator_clock_then_dropped(
    ev, webhook, receiver, control, run_deliveries
):
    webhook(triggers=["closure-islocked"])
    receiver.status = 500
    ev.subscribe(WEBHOOK_ID)
    run_deliveries()

    def attempts() -> int:
        return len(receiver.of_type("VEHICLE_STATE"))

    schedule = []
    for delay in webhooks.RETRY_DELAYS:
        control("POST", "clock", json={"advance_seconds": delay - 2})
        early = attempts()
        control("POST", "clock", json={"advance_seconds": 2})
        schedule.append((early, attempts()))
    control("POST", "clock", json={"advance_seconds": 3600})

    assert schedule == [(1, 2), (2, 3), (3, 4)]
    deliveries = receiver.of_type("VEHICLE_STATE")
    assert len(deliveries) == 4
    assert len({delivery.payload["eventId"] for delivery in deliveries}) == 1
    assert len({delivery.payload["meta"]["deliveryId"] for delivery in deliveries}) == 4
    log = control("GET", "deliveries", params={"event_type": "VEHICLE_STATE"}).json()["deliveries"]
    assert [(row["attempt"], row["status_code"], row["error"]) for row in log] == [
        (number, 500, "answered 500") for number in (4, 3, 2, 1)
    ]
    assert log[0]["event_status"] == "dropped"
    assert log[0]["event_id"] == deliveries[0].payload["eventId"]


def test_a_delivery_without_an_answer_in_time_is_retried(ev, webhook, receiver, control, run_deliveries, monkeypatch):
    webhook(triggers=["closure-islocked"])
    receiver.held = True
    ev.subscribe(WEBHOOK_ID)
    with monkeypatch.context() as patched:
        # Smartcar waits 15 s; the receiver here never answers the first attempt, so any wait shows the same.
        patched.setattr(webhooks, "TIMEOUT_SECONDS", 0.5)
        run_deliveries()
    receiver.held = False
    receiver.release.set()

    control("POST", "clock", json={"advance_seconds": 25})

    log = control("GET", "deliveries", params={"vehicle_id": ev.vehicle_id}).json()["deliveries"]
    assert [(row["attempt"], row["status_code"], row["error"]) for row in log] == [
        (2, 200, None),
        (1, None, "no answer within 0.5 s"),
    ]
    assert log[0]["event_status"] == "delivered"


def test_unsubscribing_with_the_management_token_stops_deliveries(ev, webhook, receiver, control, run_deliveries):
    webhook(triggers=["charge-ischargingcableconnected"])
    ev.subscribe(WEBHOOK_ID)
    run_deliveries()

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        ev.unsubscribe("not-the-management-token", WEBHOOK_ID)
    unsubscribed = ev.unsubscribe(MANAGEMENT_TOKEN, WEBHOOK_ID)
    control("POST", f"vehicles/{ev.vehicle_id}/plug-in")
    run_deliveries()

    assert (excinfo.value.status_code, excinfo.value.type) == (401, "AUTHENTICATION")
    assert unsubscribed.status == "success"
    assert [delivery.payload["triggers"] for delivery in receiver.of_type("VEHICLE_STATE")] == [FIRST_DELIVERY]

    ev.subscribe(WEBHOOK_ID)
    run_deliveries()
    assert [d.payload["triggers"] for d in receiver.of_type("VEHICLE_STATE")] == [FIRST_DELIVERY, FIRST_DELIVERY]


def test_a_webhook_that_enrolls_cars_itself_subscribes_every_newly_connected_car(
    webhook, receiver, connected, control, run_deliveries
):
    webhook(auto_enroll=True, triggers=["closure-islocked"])

    connected("pat", ALL_SCOPES)
    run_deliveries()

    fleet = {car["vehicle_id"] for car in control("GET", "users/pat/vehicles").json()["vehicles"]}
    first_deliveries = receiver.of_type("VEHICLE_STATE")
    assert {delivery.payload["vehicleId"] for delivery in first_deliveries} == fleet
    assert all(delivery.payload["triggers"] == FIRST_DELIVERY for delivery in first_deliveries)
    assert set(control("GET", f"webhooks/{WEBHOOK_ID}").json()["vehicles"]) == fleet


def test_the_webhook_from_settings_is_verified_before_its_first_delivery(
    settings, ev, receiver, control, run_deliveries
):
    settings.SMARTCAR_EMULATOR_WEBHOOK_URL = receiver.url
    settings.SMARTCAR_EMULATOR_MANAGEMENT_TOKEN = MANAGEMENT_TOKEN

    [listed] = control("GET", "webhooks").json()["webhooks"]
    ev.subscribe(settings.SMARTCAR_EMULATOR_WEBHOOK_ID)
    run_deliveries()

    assert (listed["webhook_id"], listed["url"], listed["verification"]) == (
        settings.SMARTCAR_EMULATOR_WEBHOOK_ID,
        receiver.url,
        "pending",
    )
    assert [delivery.payload["eventType"] for delivery in receiver.deliveries] == ["VERIFY", "VEHICLE_STATE"]
    assert control("GET", f"webhooks/{settings.SMARTCAR_EMULATOR_WEBHOOK_ID}").json()["verification"] == "verified"


def test_the_delivery_log_is_in_the_admin_and_the_management_token_is_not(
    ev, webhook, receiver, run_deliveries, admin_client
):
    webhook(triggers=["closure-islocked"])
    receiver.status = 503
    ev.subscribe(WEBHOOK_ID)
    run_deliveries()

    event = WebhookEvent.objects.get(event_type="VEHICLE_STATE")
    pages = [
        admin_client.get("/admin/smartcar_emulator/deliveryattempt/"),
        admin_client.get(f"/admin/smartcar_emulator/webhookevent/{event.pk}/change/"),
        admin_client.get(f"/admin/smartcar_emulator/webhook/{event.webhook.pk}/change/"),
    ]

    log = pages[0].content.decode()
    assert str(event.event_id) in log
    assert ev.vehicle_id in log
    assert "503" in log
    for page in pages:
        assert page.status_code == 200
        assert MANAGEMENT_TOKEN not in page.content.decode()


def test_a_car_connected_through_the_product_shows_asleep_after_the_delivery_and_recovers_when_woken(
    settings, live_server, control, alice, alice_client, run_deliveries
):
    settings.SMARTCAR_SCOPES = ALL_SCOPES
    settings.SMARTCAR_MANAGEMENT_TOKENS = [MANAGEMENT_TOKEN]
    settings.SMARTCAR_WEBHOOK_ID = WEBHOOK_ID
    created = control(
        "PUT",
        f"webhooks/{WEBHOOK_ID}",
        json={
            "url": f"{live_server.url}/webhooks/smartcar/",
            "management_token": MANAGEMENT_TOKEN,
            "auto_enroll": True,
            "triggers": ["closure-islocked"],
        },
    ).json()
    start = alice_client.get("/login")
    callback = walk_to_callback(alice_client, start["Location"], username="dana")
    assert alice_client.get(local_path(callback)).status_code == 302
    vehicle = Vehicle.objects.filter(owner=alice).order_by("pk").first()
    page = reverse("vehicles:detail", args=[vehicle.pk])

    def deliver_and_process() -> None:
        run_deliveries()
        for task in take_queued_tasks():
            if task.name == process_webhook_event.name:
                process_webhook_event.apply(args=task.args)

    deliver_and_process()
    control("POST", f"vehicles/{vehicle.smartcar_vehicle_id}/sleep")
    deliver_and_process()
    asleep = alice_client.get(page).content.decode()
    control("POST", f"vehicles/{vehicle.smartcar_vehicle_id}/wake")
    deliver_and_process()
    awake = alice_client.get(page).content.decode()

    assert created["verification"] == "verified", "the product answers VERIFY"
    assert "Your car is asleep" in asleep
    assert "Your car is asleep" not in awake
