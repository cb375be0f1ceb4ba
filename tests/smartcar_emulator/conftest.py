"""Fixtures that point the unmodified Smartcar SDK at the emulator running in a live server, and an application's
webhook endpoint for the emulator to deliver to."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import smartcar
import smartcar.config
from django.conf import settings

from smartcar_emulator.tasks import QUEUE, deliver_webhook_event
from tests.helpers import ALL_SCOPES, local_path, query_of, take_queued_tasks

REDIRECT_URI = "http://localhost:8000/exchange"
WEBHOOK_ID = "3c2e5f0a-8d4b-4e7c-a1f6-9b0d2c4e6a81"
MANAGEMENT_TOKEN = "receiver-management-token"


@pytest.fixture
def emulator_url(emulator) -> str:
    return emulator


@pytest.fixture
def auth_client(emulator_url) -> smartcar.AuthClient:
    return smartcar.AuthClient(
        client_id=settings.SMARTCAR_EMULATOR_CLIENT_ID,
        client_secret=settings.SMARTCAR_EMULATOR_CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        mode="test",
    )


@pytest.fixture
def walk_connect(client, auth_client) -> Callable[..., dict[str, str]]:
    """Click through Connect as a browser would, approving every eligible car; returns the redirect's query."""

    def walk(
        username: str = "alice@example.com",
        scopes: list[str] | None = None,
        *,
        options: dict | None = None,
        vehicles: list[str] | None = None,
        action: str = "approve",
    ) -> dict[str, str]:
        url = auth_client.get_auth_url(scopes or ["read_vehicle_info"], {"state": "s-123", **(options or {})})
        page = client.get(local_path(url))
        assert page.status_code == 200, page.content
        flow = page.context["flow"]
        if "makes" in page.context and not page.context.get("make"):
            page = client.post("/emulator/connect/login", {"flow": flow, "make": "TESLA"})
            flow = page.context["flow"]
        response = client.post("/emulator/connect/login", {"flow": flow, "username": username, "password": "pw"})
        if response.status_code == 302:
            return query_of(response["Location"])
        assert response.status_code == 200, response.content
        if vehicles is None:
            vehicles = [str(c["vehicle"].vehicle_id) for c in response.context["cars"] if c["eligible"]]
            if response.context["single_select"]:
                vehicles = vehicles[:1]
        response = client.post(
            "/emulator/connect/decide", {"flow": response.context["flow"], "vehicle": vehicles, "action": action}
        )
        assert response.status_code == 302, response.content
        return query_of(response["Location"])

    return walk


@pytest.fixture
def connected(walk_connect, auth_client) -> Callable[..., smartcar.v2_response.Access]:
    """connected(username, scopes) -> the Access the SDK returns after a full Connect and code exchange."""

    def connect(username: str = "alice@example.com", scopes: list[str] | None = None, **kwargs):
        result = walk_connect(username, scopes or ALL_SCOPES, **kwargs)
        assert "code" in result, result
        return auth_client.exchange_code(result["code"])

    return connect


@pytest.fixture
def first_vehicle(connected) -> Callable[..., smartcar.Vehicle]:
    """first_vehicle(username, scopes, powertrain=None, unit_system="metric") -> a Vehicle from a fresh connection."""

    def make(username="alice@example.com", scopes=None, *, unit_system="metric"):
        access = connected(username, scopes)
        vehicle_id = smartcar.get_vehicles(access.access_token).vehicles[0]
        return smartcar.Vehicle(vehicle_id, access.access_token, {"unit_system": unit_system})

    return make


@dataclass
class Delivery:
    """One POST the receiver got: its headers and its raw body."""

    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """An application's webhook endpoint, on a port of its own: it records every POST and answers VERIFY with the
    challenge's HMAC under its management token (or a wrong one), everything else with `status`; `held` makes it
    wait (to time out) until released."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.deliveries: list[Delivery] = []
        self.status = 200
        self.answers_verify = True
        self.held = False
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append(Delivery({k.lower(): v for k, v in self.headers.items()}, body))
                if receiver.held:
                    receiver.release.wait(timeout=10)
                answer, status = receiver.answer(json.loads(body))
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(json.dumps(answer).encode())

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/smartcar/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, payload: dict) -> tuple[dict, int]:
        if payload.get("eventType") == "VERIFY":
            key = self.token if self.answers_verify else "some-other-token"
            return {"challenge": smartcar.hash_challenge(key, payload["data"]["challenge"])}, 200
        return {}, self.status

    def of_type(self, event_type: str) -> list[Delivery]:
        return [delivery for delivery in self.deliveries if delivery.payload["eventType"] == event_type]

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(MANAGEMENT_TOKEN)
    yield receiver
    receiver.stop()


def take_delivery_tasks() -> list[list]:
    """The arguments of the delivery tasks waiting on the emulator's queue, taken off it."""
    tasks = take_queued_tasks([QUEUE])
    assert {task.name for task in tasks} <= {deliver_webhook_event.name}
    return [task.args for task in tasks]


@pytest.fixture
def run_deliveries(emulator) -> Callable[[], None]:
    """run_deliveries() runs the delivery tasks queued so far, as the emulator's worker would."""
    take_delivery_tasks()

    def run() -> None:
        for args in take_delivery_tasks():
            deliver_webhook_event.apply(args=args)

    return run


@pytest.fixture
def webhook(control, receiver) -> Callable[..., dict]:
    """webhook(**settings) sets up the test webhook (WEBHOOK_ID) delivering to the receiver; its control API answer."""

    def configure(**body) -> dict:
        response = control(
            "PUT", f"webhooks/{WEBHOOK_ID}", json={"url": receiver.url, "management_token": MANAGEMENT_TOKEN, **body}
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    return configure
