"""A token endpoint that misbehaves on cue: it stands between the application and the emulator's token endpoint
and, for each request in turn, passes it on, fails it, or lets it reach the emulator and then loses the answer."""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

PASS = "pass"
HTML_502 = "html502"
HANG = "hang"  # never reaches the emulator; answers only when the test ends
LOSE_ANSWER = "lose-answer"  # reaches the emulator (which rotates the tokens), then the answer never arrives
SERVER_ERROR = "503"
RATE_LIMITED = "429"
SLOW = "slow"  # reaches the emulator at once, answers three seconds later
SLOW_SECONDS = 3.0
# Each of these reaches the emulator, which rotates the tokens, and then the answer goes wrong on its way back.
ROTATE_THEN_500 = "rotate-then-500"
ROTATE_THEN_504 = "rotate-then-504"
RESET_AFTER_SEND = "reset-after-send"  # the connection is reset instead of answered
STALLED_BODY = "stalled-body"  # the status line, headers and half the body, then nothing
GARBAGE_200 = "garbage-200"  # a 200 whose body is not JSON
TRUNCATED_200 = "truncated-200"  # a 200 whose body is cut short and the connection closed
SLOW_BEYOND = "slow-beyond"  # the whole answer, but `slow_seconds` late (longer than the client's timeout)
AFTER_SEND_FAULTS = [ROTATE_THEN_500, ROTATE_THEN_504, RESET_AFTER_SEND, STALLED_BODY, GARBAGE_200, TRUNCATED_200]


class TokenProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        upstream: str,
        script: list[str] | None = None,
        *,
        default: str = PASS,
        failures: list[str] | None = None,
        failure_rate: float = 0.0,
        seed: int = 0,
        slow_seconds: float = SLOW_SECONDS,
        hold_seconds: float = 30,
        on_rotated=None,
        port: int = 0,
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.upstream = upstream
        self.script = deque(script or [])
        self.default = default
        # Past the script: each call fails with probability `failure_rate`, as one of `failures` at random.
        self.failures = failures or []
        self.failure_rate = failure_rate
        self.random = random.Random(seed)
        self.slow_seconds = slow_seconds
        # How long a lost or stalled answer is held before the proxy lets the connection go.
        self.hold_seconds = hold_seconds
        # Called once the emulator has answered, before the answer goes back (a test's hook for "answered, then...").
        self.on_rotated = on_rotated
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/oauth/token"

    def next_action(self) -> str:
        with self.lock:
            if self.script:
                action = self.script.popleft()
            elif self.failures and self.random.random() < self.failure_rate:
                action = self.random.choice(self.failures)
            else:
                action = self.default
            self.calls.append(action)
            return action

    def __enter__(self) -> TokenProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: TokenProxy

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        action = self.server.next_action()
        if action == HTML_502:
            self._answer(502, {"Content-Type": "text/html"}, b"<html><body><h1>502 Bad Gateway</h1></body></html>")
        elif action == SERVER_ERROR:
            self._answer(503, {"Content-Type": "text/html"}, b"<html><body>Service Unavailable</body></html>")
        elif action == RATE_LIMITED:
            # Smartcar's rate-limit errors are v2-shaped; the SDK reads Retry-After only from those.
            payload = {
                "type": "RATE_LIMIT",
                "code": "SMARTCAR_API",
                "description": "Too many requests.",
                "docURL": None,
                "statusCode": 429,
                "requestId": "proxy",
                "resolution": {"type": "RETRY_LATER"},
            }
            self._answer(429, {"Content-Type": "application/json", "Retry-After": "120"}, json.dumps(payload).encode())
        elif action == HANG:
            self.server.release.wait(timeout=30)
        else:
            upstream = requests.post(
                self.server.upstream,
                data=body,
                headers={"Authorization": self.headers["Authorization"], "Content-Type": self.headers["Content-Type"]},
                timeout=10,
            )
            if self.server.on_rotated is not None:
                self.server.on_rotated(action)
            self._after_upstream(action, upstream)

    def _after_upstream(self, action: str, upstream: requests.Response) -> None:
        server = self.server
        if action == SLOW:
            server.release.wait(timeout=SLOW_SECONDS)
        elif action == SLOW_BEYOND:
            server.release.wait(timeout=server.slow_seconds)
        if action == LOSE_ANSWER:
            # The emulator has rotated the tokens; the caller times out before hearing so.
            server.release.wait(timeout=server.hold_seconds)
        elif action == ROTATE_THEN_500:
            self._answer(500, {"Content-Type": "application/json"}, b'{"error": "server_error"}')
        elif action == ROTATE_THEN_504:
            self._answer(504, {"Content-Type": "text/html"}, b"<html><body>504 Gateway Time-out</body></html>")
        elif action == RESET_AFTER_SEND:
            # SO_LINGER with a zero timeout: close() sends a RST instead of a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
        elif action == GARBAGE_200:
            self._answer(200, {"Content-Type": "application/json"}, b"<html><body>Welcome</body></html>")
        elif action in (STALLED_BODY, TRUNCATED_200):
            body = upstream.content
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
            except OSError:
                return
            if action == STALLED_BODY:
                server.release.wait(timeout=server.hold_seconds)
            self.close_connection = True
        else:
            self._answer(upstream.status_code, {"Content-Type": upstream.headers["Content-Type"]}, upstream.content)

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the caller gave up

    def log_message(self, *args) -> None:
        pass
