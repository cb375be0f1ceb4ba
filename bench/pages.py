"""`/vehicles/` with 1, 10 and 50 vehicles against a trivial signed-in view, in the same gunicorn, under wrk."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import timedelta

import requests
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from vehicles.models import SmartcarConnection, Vehicle

TRIVIAL_TEXT_PATH = "/bench/signed-in.txt"
TRIVIAL_PAGE_PATH = "/bench/signed-in"
VEHICLES_PATH = "/vehicles/"
PAGE_FLOOR = "trivial signed-in page"
TEXT_FLOOR = "trivial signed-in text"
# What the page never shows; the stored value only has to be there.
PLACEHOLDER = "not-a-real-token"
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
# A car, a household's cars, a small fleet.
CAR_COUNTS = (1, 10, 50)


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    user: User
    vehicles: int


@dataclass
class Load:
    page: str
    per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    # CPU the web's processes spent per request during the run: what the page costs, whatever else the machine does.
    server_cpu_ms: float = 0.0


def _four_corners(name: str, value: object) -> list[dict]:
    return [{"row": row, "column": column, name: value} for row in (0, 1) for column in (0, 1)]


SIGNALS = {
    "vehicleidentification-vin": {"value": "5YJ3E1EA7KF000000"},
    "odometer-traveleddistance": {"value": 42137.4, "unit": "km"},
    "location-preciselocation": {"latitude": 37.7749, "longitude": -122.4194, "heading": 90, "direction": "E"},
    "tractionbattery-stateofcharge": {"value": 64, "unit": "percent"},
    "tractionbattery-range": {"value": 312.5, "unit": "km"},
    "tractionbattery-nominalcapacity": {"capacity": 75.0, "unit": "kWh", "source": "SMARTCAR"},
    "charge-ischarging": {"value": False},
    "charge-ischargingcableconnected": {"value": False},
    "charge-amperage": {"value": 0, "unit": "A"},
    "charge-voltage": {"value": 0, "unit": "V"},
    "closure-islocked": {"value": True},
    "closure-doors": {"values": _four_corners("isOpen", False)},
    "closure-windows": {"values": _four_corners("isOpen", False)},
    "wheel-tires": {"values": _four_corners("tirePressure", 238.0)},
    "lowvoltagebattery-stateofcharge": {"value": 87, "unit": "percent"},
}


def snapshot(fetched) -> dict:
    """A stored signals snapshot of an electric car, shaped as sync_vehicle_data stores it."""
    moment = fetched.isoformat()
    signal = {"status": "SUCCESS", "retrieved_at": moment, "oem_updated_at": moment}
    return {"signals": {code: {**signal, "body": body} for code, body in SIGNALS.items()}}


def create_page_users() -> list[Page]:
    """A person per CAR_COUNTS, with that many cars; their connections are healthy, so no sweep touches them."""
    password = make_password("bench-password")
    now = timezone.now()
    pages = []
    for count in CAR_COUNTS:
        user = User.objects.create(email=f"pages{count}@bench.example", password=password)
        connection_row = SmartcarConnection.objects.create(
            owner=user,
            smartcar_user_id=f"pages-{count}",
            access_token=PLACEHOLDER,
            refresh_token=PLACEHOLDER,
            access_expires_at=now + timedelta(hours=2),
            refresh_expires_at=now + timedelta(days=60),
        )
        Vehicle.objects.bulk_create(
            [
                Vehicle(
                    owner=user,
                    connection=connection_row,
                    smartcar_vehicle_id=f"pages-{count}-{number}",
                    make=("TESLA", "BMW", "FORD", "TOYOTA")[number % 4],
                    model=("Model 3", "i3", "Mustang Mach-E", "bZ4X")[number % 4],
                    year=2019 + number % 5,
                    data=snapshot(now - timedelta(minutes=number)),
                    data_fetched_at=now - timedelta(minutes=number),
                )
                for number in range(count)
            ]
        )
        pages.append(Page(name=f"/vehicles/ with {count}", path=VEHICLES_PATH, user=user, vehicles=count))
    someone = pages[-1].user
    return [
        Page(name=TEXT_FLOOR, path=TRIVIAL_TEXT_PATH, user=someone, vehicles=0),
        Page(name=PAGE_FLOOR, path=TRIVIAL_PAGE_PATH, user=someone, vehicles=0),
        *pages,
    ]


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def query_count(page: Page) -> int:
    """The queries one request makes, counted in-process with the same settings the gunicorn runs."""
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(page.user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(page.path)
    if response.status_code != 200:
        raise RuntimeError(f"{page.path} answered {response.status_code} in-process")
    if page.vehicles and response.content.count(b"<tr>") != page.vehicles + 1:
        raise RuntimeError(f"{page.name}: the table does not have {page.vehicles} rows")
    return len(queries)


def check_served(base_url: str, page: Page, cookie: str) -> None:
    """A signed-out answer is a redirect that wrk would count as a success: make sure the page itself comes back."""
    response = requests.get(
        base_url + page.path, cookies={settings.SESSION_COOKIE_NAME: cookie}, allow_redirects=False, timeout=10
    )
    if response.status_code != 200:
        raise RuntimeError(f"{page.name} answered {response.status_code} through gunicorn")


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * UNITS_MS[unit]


def wrk(url: str, cookie: str, *, seconds: int, connections: int, name: str) -> Load:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    argv += ["-H", f"Cookie: {settings.SESSION_COOKIE_NAME}={cookie}", url]
    output = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout  # noqa: S603
    if "Non-2xx or 3xx responses" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk saw errors on {url}:\n{output}")
    latency = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", output, re.MULTILINE))
    per_second = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if per_second is None or set(latency) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk's output for {url}:\n{output}")
    per_second = float(per_second.group(1))
    requests = int(re.search(r"^\s+(\d+) requests in", output, re.MULTILINE).group(1))
    p50, p99 = _milliseconds(latency["50"]), _milliseconds(latency["99"])
    return Load(page=name, per_second=per_second, p50_ms=p50, p99_ms=p99, requests=requests)
