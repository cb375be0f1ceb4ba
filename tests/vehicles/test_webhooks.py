"""Smartcar's webhook deliveries: signed, stored once, answered at once, processed in the background, newest value
first. Payload shapes follow Smartcar's documented examples (VEHICLE_STATE version 4.0 with per-signal status and
millisecond timestamps: smartcar.com/docs/integrations/webhooks/responses; VERIFY:
smartcar.com/docs/api-reference/webhooks/event-types), on PostgreSQL and Redis with the emulator's car."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import uuid

import pytest
import smartcar
from django.urls import reverse

from tests.helpers import ALL_SCOPES, take_queued_tasks
from vehicles import tasks
from vehicles.models import Vehicle, WebhookEvent
from vehicles.services import webhooks

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "management-token-current"
OLD_TOKEN = "management-token-being-retired"
URL = "/webhooks/smartcar/"


@pytest.fixture(autouse=True)
def management_tokens(settings):
    settings.SMARTCAR_MANAGEMENT_TOKENS = [TOKEN, OLD_TOKEN]
    take_queued_tasks()


def signed(body: bytes, key: str = TOKEN) -> dict:
    return {"HTTP_SC_SIGNATURE": hmac.new(key.encode(), body, hashlib.sha256).hexdigest()}


def deliver(client, payload: dict | bytes, *, key: str | None = TOKEN, **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if key is not None:
        headers.update(signed(body, key))
    return client.post(URL, body, content_type="application/json", **headers)


def vehicle_state(vehicle: Vehicle, signals: list[dict], *, event_id: str | None = None) -> dict:
    return {
        "eventId": event_id or str(uuid.uuid4()),
        "eventType": "VEHICLE_STATE",
        "data": {
            "user": {"id": vehicle.connection.smartcar_user_id},
            "vehicle": {"id": vehicle.smartcar_vehicle_id, "make": vehicle.make, "model": vehicle.model},
            "signals": signals,
        },
        "triggers": [{"type": "SIGNAL_UPDATED", "signal": {"code": signals[0]["code"]}}],
        "meta": {"version": "4.0", "deliveryId": str(uuid.uuid4()), "webhookId": "webhook-1", "mode": "TEST"},
    }


def charge_signal(percent: int, at_ms: int) -> dict:
    return {
        "code": "tractionbattery-stateofcharge",
        "name": "StateOfCharge",
        "group": "TractionBattery",
        "body": {"unit": "percent", "value": percent},
        "status": {"value": "SUCCESS"},
        "meta": {"retrievedAt": at_ms, "oemUpdatedAt": at_ms},
    }


def process_queued() -> None:
    for task in take_queued_tasks():
        assert task.name == tasks.process_webhook_event.name
        tasks.process_webhook_event.apply(args=task.args)


@pytest.fixture
def car(settings, alice, alice_client, connect_car) -> Vehicle:
    """Alice's first car, connected through the emulator with every permission it serves."""
    settings.SMARTCAR_SCOPES = ALL_SCOPES
    assert connect_car(alice_client).response.status_code == 302
    take_queued_tasks()  # the first fetch a new car gets: not what these tests are about
    return Vehicle.objects.select_related("connection").filter(owner=alice).order_by("pk").first()


def test_verify_answers_the_challenge_hashed_with_the_management_token(client):
    challenge = "a1b2c3-random-challenge"
    response = deliver(client, {"eventId": "v1", "eventType": "VERIFY", "data": {"challenge": challenge}})

    assert response.status_code == 200
    # Smartcar's own SDK computes what the dashboard expects back.
    assert response.json() == {"challenge": smartcar.hash_challenge(TOKEN, challenge)}
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("headers", "key"),
    [({}, None), ({"HTTP_SC_SIGNATURE": "0" * 64}, None), ({}, "someone-elses-token")],
    ids=["missing", "forged", "wrong-key"],
)
def test_an_unsigned_or_forged_delivery_is_refused_and_changes_nothing(client, car, headers, key):
    before = Vehicle.objects.get(pk=car.pk).data
    response = deliver(client, vehicle_state(car, [charge_signal(42, 1_800_000_000_000)]), key=key, **headers)

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert take_queued_tasks() == []
    assert Vehicle.objects.get(pk=car.pk).data == before


def test_an_unsigned_verify_gets_no_signature_back(client):
    response = deliver(client, {"eventId": "v", "eventType": "VERIFY", "data": {"challenge": "x"}}, key=None)

    assert response.status_code == 401
    assert "challenge" not in response.json()


def test_both_the_current_and_the_old_management_token_are_accepted(client, car):
    for key in (TOKEN, OLD_TOKEN):
        assert deliver(client, vehicle_state(car, [charge_signal(50, 1_800_000_000_000)]), key=key).status_code == 200
    assert WebhookEvent.objects.count() == 2


def test_a_body_over_one_megabyte_is_refused_without_being_read_or_stored(client):
    body = b"x" * (webhooks.MAX_BODY_BYTES + 1)

    response = deliver(client, body)

    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


def test_a_replayed_event_id_is_acknowledged_and_processed_once(client, car):
    payload = vehicle_state(car, [charge_signal(61, 1_800_000_000_000)], event_id="evt-1")

    first = deliver(client, payload)
    again = deliver(client, payload)

    assert (first.status_code, first.json()) == (200, {"status": "accepted"})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert WebhookEvent.objects.count() == 1
    assert len(take_queued_tasks()) == 1


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", json.dumps({"eventId": "e", "eventType": "VEHICLE_TELEPORTED"}).encode()],
    ids=["malformed", "not-an-object", "unknown-type"],
)
def test_a_signed_delivery_we_cannot_use_is_kept_as_rejected_and_acknowledged(client, body):
    response = deliver(client, body)

    # 200: Smartcar would otherwise retry the same signed bytes three times for nothing.
    assert (response.status_code, response.json()) == (200, {"status": "rejected"})
    event = WebhookEvent.objects.get()
    assert event.outcome == WebhookEvent.Outcome.REJECTED
    assert take_queued_tasks() == []


def odometer_signal(kilometers: int, at_ms: int) -> dict:
    return {
        "code": "odometer-traveleddistance",
        "name": "TraveledDistance",
        "group": "Odometer",
        "body": {"unit": "km", "value": kilometers},
        "status": {"value": "SUCCESS"},
        "meta": {"retrievedAt": at_ms, "oemUpdatedAt": at_ms},
    }


def test_deliveries_in_any_order_leave_the_newest_value_of_each_signal(client, car):
    rng = random.Random(18)
    base = 1_800_000_000_000
    # Each delivery carries both signals, each with a time of its own: the newest battery reading and the newest
    # odometer reading need not come in the same delivery.
    charges = [(base + rng.randrange(10**9), rng.randint(0, 100)) for _ in range(200)]
    odometers = [(base + rng.randrange(10**9), rng.randint(1_000, 90_000)) for _ in range(200)]
    payloads = [
        vehicle_state(car, [charge_signal(percent, charged_at), odometer_signal(kilometers, driven_at)])
        for (charged_at, percent), (driven_at, kilometers) in zip(charges, odometers, strict=True)
    ]
    # Smartcar retries some deliveries (same eventId) and promises no order.
    deliveries = payloads + rng.sample(payloads, 40)
    rng.shuffle(deliveries)

    for payload in deliveries:
        assert deliver(client, payload).status_code == 200
    process_queued()

    stored = Vehicle.objects.get(pk=car.pk).data["signals"]
    assert stored["tractionbattery-stateofcharge"]["body"]["value"] == max(charges)[1]
    assert stored["odometer-traveleddistance"]["body"]["value"] == max(odometers)[1]
    assert WebhookEvent.objects.count() == 200
    assert set(WebhookEvent.objects.values_list("outcome", flat=True)) == {WebhookEvent.Outcome.PROCESSED}


def test_a_signal_the_car_cannot_give_is_shown_unavailable_with_the_reason(client, car, alice_client):
    failing = {
        "code": "tractionbattery-stateofcharge",
        "name": "StateOfCharge",
        "group": "TractionBattery",
        "status": {"value": "ERROR", "error": {"type": "VEHICLE_STATE", "code": "ASLEEP"}},
        "meta": {"retrievedAt": 1_900_000_000_000},
    }
    deliver(client, vehicle_state(car, [failing]))
    process_queued()

    page = alice_client.get(reverse("vehicles:detail", args=[car.pk])).content.decode()
    assert "unavailable (the car is asleep)" in page


def test_a_car_put_to_sleep_shows_asleep_and_recovers_on_resolved(client, car, alice_client):
    def error(state: str) -> dict:
        return {
            "eventId": str(uuid.uuid4()),
            "eventType": "VEHICLE_ERROR",
            "data": {
                "user": {"id": car.connection.smartcar_user_id},
                "vehicle": {"id": car.smartcar_vehicle_id},
                "errors": [{"type": "VEHICLE_STATE", "code": "ASLEEP", "state": state}],
            },
            "meta": {"version": "4.0", "webhookId": "webhook-1"},
        }

    deliver(client, error("ERROR"))
    process_queued()
    asleep = alice_client.get(reverse("vehicles:detail", args=[car.pk])).content.decode()
    deliver(client, error("RESOLVED"))
    process_queued()
    awake = alice_client.get(reverse("vehicles:detail", args=[car.pk])).content.decode()

    assert "asleep" in asleep.lower()
    stored = Vehicle.objects.get(pk=car.pk)
    assert (stored.state_error_type, stored.state_error_code) == ("", "")
    assert "is asleep" not in awake


def test_an_event_for_a_car_nobody_connected_is_kept_and_ignored(client, car):
    payload = vehicle_state(car, [charge_signal(10, 1_800_000_000_000)])
    payload["data"]["vehicle"]["id"] = "00000000-0000-0000-0000-000000000000"

    deliver(client, payload)
    process_queued()

    assert WebhookEvent.objects.get().outcome == WebhookEvent.Outcome.IGNORED


def test_support_sees_events_in_the_admin_without_body_signature_or_token(client, car, admin_client):
    payload = vehicle_state(car, [charge_signal(33, 1_800_000_000_000)], event_id="evt-admin")
    payload["data"]["signals"].append(
        {
            "code": "location-preciselocation",
            "body": {"latitude": 48.858370, "longitude": 2.294481},
            "status": {"value": "SUCCESS"},
            "meta": {"retrievedAt": 1_800_000_000_000},
        }
    )
    body = json.dumps(payload).encode()
    deliver(client, body)
    process_queued()
    event = WebhookEvent.objects.get()

    listing = admin_client.get(reverse("admin:vehicles_webhookevent_changelist")).content.decode()
    detail = admin_client.get(reverse("admin:vehicles_webhookevent_change", args=[event.pk])).content.decode()

    assert "evt-admin" in detail
    assert "Processed" in listing
    for page in (listing, detail):
        assert signed(body)["HTTP_SC_SIGNATURE"] not in page
        assert TOKEN not in page
        assert "48.85837" not in page
