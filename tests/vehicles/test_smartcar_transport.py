"""How calls to Smartcar travel: connections kept open between calls (no handshake per refresh), nothing else carried
from one call to the next, a fresh session in a forked process, and the per-call timeout still applied."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from vehicles import smartcar_client


class TokenEndpoint(ThreadingHTTPServer):
    """A token endpoint speaking HTTP/1.1 with keep-alive, recording each request's client port and cookies."""

    daemon_threads = True

    def __init__(self, *, delay: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = delay
        self.requests: list[tuple[int, str | None]] = []
        self.paths: list[str] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/oauth/token"

    def __enter__(self) -> TokenEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TokenEndpoint

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append((self.client_address[1], self.headers.get("Cookie")))
        self.server.paths.append(self.path)
        time.sleep(self.server.delay)
        body = json.dumps(
            {
                "access_token": "a" * 36,
                "refresh_token": "r" * 36,
                "expires_in": 7200,
                "token_type": "Bearer",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        # A load balancer's stickiness cookie, as real endpoints set: it must not travel to the next call.
        self.send_header("Set-Cookie", "balancer=node-7; Path=/")
        self.end_headers()
        # The client may have given up waiting (the timeout test).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def endpoint(settings):
    with TokenEndpoint() as server:
        settings.SMARTCAR_AUTH_ORIGIN = server.url
        yield server


def test_calls_from_one_thread_reuse_one_connection(endpoint):
    for _ in range(3):
        tokens = smartcar_client.refresh_tokens(refresh_token="r" * 36)
        assert tokens.access_token == "a" * 36

    ports = {port for port, _ in endpoint.requests}
    assert len(endpoint.requests) == 3
    assert len(ports) == 1


def test_no_cookie_travels_from_one_call_to_the_next(endpoint):
    smartcar_client.refresh_tokens(refresh_token="r" * 36)
    smartcar_client.refresh_tokens(refresh_token="r" * 36)

    assert [cookie for _, cookie in endpoint.requests] == [None, None]


def test_each_thread_has_its_own_connection(endpoint):
    def refresh() -> None:
        smartcar_client.refresh_tokens(refresh_token="r" * 36)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    refresh()

    assert len({port for port, _ in endpoint.requests}) == 3


def test_a_forked_process_opens_its_own_connection(endpoint):
    smartcar_client.refresh_tokens(refresh_token="r" * 36)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what a prefork pool process does after the fork
        try:
            smartcar_client.refresh_tokens(refresh_token="r" * 36)
            os.write(write, b"ok")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 2) == b"ok"
    smartcar_client.refresh_tokens(refresh_token="r" * 36)

    first, child, parent_again = (port for port, _ in endpoint.requests)
    assert child != first
    assert parent_again == first


def test_the_per_call_timeout_still_applies_on_a_kept_connection(settings):
    settings.SMARTCAR_HTTP_TIMEOUT = 0.5
    with TokenEndpoint(delay=2) as server:
        settings.SMARTCAR_AUTH_ORIGIN = server.url
        started = time.monotonic()
        with pytest.raises(smartcar_client.Transient) as raised:
            smartcar_client.refresh_tokens(refresh_token="r" * 36)
    assert time.monotonic() - started < 1.5
    assert raised.value.unknown_outcome


@pytest.fixture
def environment(monkeypatch):
    """Proxy variables as an operator would set them; the per-process reading of them starts afresh."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    smartcar_client._environment_proxies.cache_clear()
    yield monkeypatch
    smartcar_client._environment_proxies.cache_clear()


def test_calls_go_through_the_proxy_the_environment_names(settings, environment):
    with TokenEndpoint() as proxy:
        environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        settings.SMARTCAR_AUTH_ORIGIN = "http://auth.smartcar.invalid/oauth/token"

        tokens = smartcar_client.refresh_tokens(refresh_token="r" * 36)

    assert tokens.access_token == "a" * 36
    # A proxy is sent the whole URL.
    assert proxy.paths == ["http://auth.smartcar.invalid/oauth/token"]


def test_no_proxy_still_bypasses_the_proxy(endpoint, environment, unused_port):
    environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{unused_port}")
    environment.setenv("NO_PROXY", "127.0.0.1")

    smartcar_client.refresh_tokens(refresh_token="r" * 36)

    assert endpoint.paths == ["/oauth/token"]


def test_requests_without_a_timeout_are_impossible_through_the_sdk():
    # The SDK reaches `requests` only through the stand-in; anything else it uses is the real module.
    import smartcar.helpers

    assert isinstance(smartcar.helpers.requests, smartcar_client._BoundedRequests)
    assert smartcar.helpers.requests.codes is requests.codes
