"""Webhook deliveries accepted per second by one web process, and their latency: signed VEHICLE_STATE deliveries as
the emulator makes them (the FIRST_DELIVERY of each of a fleet's cars to a subscribed webhook), each sent with an
eventId and a deliveryId of its own, by wrk from a Lua script cycling through bodies signed beforehand."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from bench import wrk as bench_wrk
from smartcar_emulator import clock, fleet
from smartcar_emulator import webhooks as emulator_webhooks
from smartcar_emulator.models import Grant
from smartcar_emulator.models import WebhookEvent as EmulatorEvent
from smartcar_emulator.permissions import PERMISSIONS
from smartcar_emulator.signals import epoch_ms
from vehicles.models import WebhookEvent

# The name of the web's profile while it accepts deliveries.
PROFILE = "webhook deliveries"
# Distinct deliveries written for each second of a run: more than one web process can accept.
MAX_PER_SECOND = 4000
# wrk builds every request once, at start-up, from the file named after `--`: one "signature body" line each.
LUA = """\
local requests, position = {}, 0

function init(args)
  for line in io.lines(args[1]) do
    local signature, body = line:match("^(%x+) (.+)$")
    local headers = {["Content-Type"] = "application/json", ["SC-Signature"] = signature}
    requests[#requests + 1] = wrk.format("POST", nil, headers, body)
  end
end

function request()
  position = position % #requests + 1
  return requests[position]
end
"""


@dataclass
class Load:
    round: int
    per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    stored: int
    # CPU the web process spent per delivery: what accepting one costs, whatever else the machine does.
    server_cpu_ms: float = 0.0


def path() -> str:
    return reverse("smartcar-webhook")


def emulator_deliveries(callback_url: str) -> list[dict]:
    """The VEHICLE_STATE payloads the emulator sends for a fleet's cars, every permission granted, to a webhook it
    verified at `callback_url` with VERIFY (so the receiver holds the management token the emulator signs with). One
    of them is delivered by the emulator itself, as a check that what it sends is accepted."""
    account = fleet.user_with_fleet(username="bench-webhooks@example.com", now=clock.now())
    cars = list(account.vehicles.all())
    grant = Grant.objects.create(
        user=account, client_id=settings.SMARTCAR_EMULATOR_CLIENT_ID, scopes=list(PERMISSIONS), created_at=clock.now()
    )
    grant.vehicles.set(cars)
    webhook, _ = emulator_webhooks.configure(
        webhook_id=str(uuid.uuid4()), url=callback_url, management_token=settings.SMARTCAR_MANAGEMENT_TOKENS[0]
    )
    if webhook.verification != webhook.Verification.VERIFIED:
        raise RuntimeError(f"the web did not answer the emulator's VERIFY: {webhook.verification_detail}")
    for car in cars:
        emulator_webhooks.subscribe(webhook=webhook, vehicle=car)
    events = list(EmulatorEvent.objects.filter(webhook=webhook, event_type=emulator_webhooks.VEHICLE_STATE))
    emulator_webhooks.deliver(event_pk=events[0].pk)
    events[0].refresh_from_db()
    if events[0].status != EmulatorEvent.Status.DELIVERED:
        raise RuntimeError("the web did not accept the emulator's own delivery")
    return [event.payload for event in events]


def write_requests(target: Path, payloads: list[dict], count: int) -> int:
    """`count` signed deliveries, cycling through the payloads, each with an eventId and a deliveryId of its own, in
    the shape of the emulator's deliveries (its meta, with the attempt's version, deliveryId and deliveredAt). Their
    mean size in bytes."""
    key = settings.SMARTCAR_MANAGEMENT_TOKENS[0].encode()
    delivered_at = epoch_ms(clock.now())
    size = 0
    with target.open("w") as lines:
        for number in range(count):
            payload = payloads[number % len(payloads)]
            meta = {
                "version": emulator_webhooks.VERSION,
                "deliveryId": str(uuid.uuid4()),
                "deliveredAt": delivered_at,
                **payload["meta"],
            }
            body = json.dumps({**payload, "eventId": str(uuid.uuid4()), "meta": meta}).encode()
            lines.write(f"{hmac.new(key, body, hashlib.sha256).hexdigest()} {body.decode()}\n")
            size += len(body)
    return size // count


def statements_per_delivery(payload: dict) -> list[str]:
    """The SQL statements one delivery costs the web, counted in-process through the same middleware."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    body = json.dumps({**payload, "eventId": str(uuid.uuid4())}).encode()
    signature = hmac.new(settings.SMARTCAR_MANAGEMENT_TOKENS[0].encode(), body, hashlib.sha256).hexdigest()
    client = Client(HTTP_HOST="127.0.0.1")
    with CaptureQueriesContext(connection) as statements:
        response = client.post(path(), body, content_type="application/json", HTTP_SC_SIGNATURE=signature)
    if response.status_code != 200:
        raise RuntimeError(f"the receiver answered {response.status_code} in-process")
    return [statement["sql"].split(None, 1)[0] for statement in statements]


def wrk(url: str, *, script: Path, requests_file: Path, seconds: int, connections: int, round_number: int) -> Load:
    """One wrk run; every delivery it counts must have been stored, each once."""
    stored_before = WebhookEvent.objects.count()
    report = bench_wrk.run(
        url,
        seconds=seconds,
        connections=connections,
        timeout=seconds + 60,
        options=["-s", str(script)],
        script_args=["--", str(requests_file)],
    )
    sent = report.requests
    # The web may finish a few deliveries wrk stopped waiting for; fewer stored than answered would mean an eventId
    # came twice (answered "duplicate"), so that the run measured something else.
    time.sleep(0.5)
    stored = WebhookEvent.objects.count() - stored_before
    if not sent <= stored <= sent + connections:
        raise RuntimeError(f"wrk counted {sent} deliveries and the web stored {stored}")
    return Load(
        round=round_number,
        per_second=report.per_second,
        p50_ms=report.p50_ms,
        p99_ms=report.p99_ms,
        requests=sent,
        stored=stored,
    )
