from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from tests.helpers import query_of
from tests.vehicles.conftest import said, walk_to_callback
from vehicles.models import SmartcarConnection

pytestmark = pytest.mark.django_db(transaction=True)


class BrokenTokenEndpoint(ThreadingHTTPServer):
    """A token endpoint as a failing proxy or a hung Smartcar would present it."""

    daemon_threads = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = mode
        self.requests = 0
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/oauth/token"


class Handler(BaseHTTPRequestHandler):
    server: BrokenTokenEndpoint

    def do_POST(self) -> None:
        self.server.requests += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.server.mode == "html502":
            self._answer(502, "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>")
        else:
            # Hangs until the test ends; if the caller waited this long, it would then get valid tokens.
            self.server.release.wait(timeout=30)
            body = {"access_token": "a", "token_type": "Bearer", "expires_in": 7200, "refresh_token": "r"}
            self._answer(200, "application/json", json.dumps(body).encode())

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def broken_token_endpoint(settings, request) -> Iterator[BrokenTokenEndpoint]:
    server = BrokenTokenEndpoint(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SMARTCAR_HTTP_TIMEOUT = 1.0
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("broken_token_endpoint", ["html502", "hang"], indirect=True)
def test_a_failed_code_exchange_stores_nothing_and_is_not_retried(
    alice_client, smartcar, settings, broken_token_endpoint
):
    location = alice_client.get("/login")["Location"]
    callback = query_of(walk_to_callback(alice_client, location, username="driver@example.com"))
    settings.SMARTCAR_AUTH_ORIGIN = broken_token_endpoint.url

    response = alice_client.get("/exchange", callback)

    assert response.url == reverse("vehicles:list")
    assert said(response, "Your car could not be connected")
    assert not SmartcarConnection.objects.exists()
    assert broken_token_endpoint.requests == 1
    page = alice_client.get(response.url).content.decode()
    assert "502 Bad Gateway" not in page
