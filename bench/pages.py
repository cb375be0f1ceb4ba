"""`/vehicles/` with 1, 10 and 50 vehicles, and a car's page with a month of history, against a trivial signed-in view,
in the same gunicorn, under wrk, while the database holds the history of 10,000 other cars for 30 days."""

from __future__ import annotations

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
from bench import wrk as bench_wrk
from vehicles.models import Reading, SmartcarConnection, Vehicle

TRIVIAL_TEXT_PATH = "/bench/signed-in.txt"
TRIVIAL_PAGE_PATH = "/bench/signed-in"
VEHICLES_PATH = "/vehicles/"
PAGE_FLOOR = "trivial signed-in page"
TEXT_FLOOR = "trivial signed-in text"
# What the page never shows; the stored value only has to be there.
PLACEHOLDER = "not-a-real-token"
# A car, a household's cars, a small fleet.
CAR_COUNTS = (1, 10, 50)
# Everyone else's cars, and the history each keeps: a reading every hour (every hourly fetch finds a change), for the
# default retention (VEHICLE_HISTORY_DAYS).
HISTORY_CARS = 10_000
HISTORY_DAYS = 30
READINGS_PER_DAY = 24
CAR_PAGE = "a car's page, 30 days of history"
# What the page users granted: every fact the overview and the car's page can show.
SCOPES = [
    "read_vehicle_info",
    "read_vin",
    "read_odometer",
    "read_location",
    "read_battery",
    "read_charge",
    "read_security",
    "read_tires",
    "control_security",
    "control_charge",
]


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


def create_history_cars() -> None:
    """HISTORY_CARS cars of other people, ten to a person, each with HISTORY_DAYS of hourly readings. The readings are
    made by the database (generate_series): millions of rows through the ORM would take longer than the bench."""
    now = timezone.now()
    people = User.objects.bulk_create(
        User(email=f"history{number}@bench.example", password=make_password(None))
        for number in range(HISTORY_CARS // 10)
    )
    grants = SmartcarConnection.objects.bulk_create(
        SmartcarConnection(
            owner=person,
            smartcar_user_id=f"history-{person.pk}",
            access_token=PLACEHOLDER,
            refresh_token=PLACEHOLDER,
            access_expires_at=now + timedelta(hours=2),
            refresh_expires_at=now + timedelta(days=60),
            # They only fill the tables: no sweep refreshes them, whatever else the bench measures.
            status=SmartcarConnection.Status.REVOKED,
            scopes=SCOPES,
        )
        for person in people
    )
    Vehicle.objects.bulk_create(
        Vehicle(
            owner_id=grant.owner_id,
            connection=grant,
            smartcar_vehicle_id=f"history-{grant.pk}-{number}",
            make="TESLA",
            model="Model 3",
            year=2022,
            data=snapshot(now),
            data_fetched_at=now,
        )
        for grant in grants
        for number in range(10)
    )
    add_history(Vehicle.objects.filter(smartcar_vehicle_id__startswith="history-"))


def add_history(vehicles) -> None:
    """HISTORY_DAYS of hourly readings for each of `vehicles`: battery down while driving and up while charging, the
    range with it, the odometer growing, charging a few hours a day."""
    readings = HISTORY_DAYS * READINGS_PER_DAY
    query, params = vehicles.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Reading._meta.db_table}
                (vehicle_id, recorded_at, battery_percent, electric_range_km, odometer_km, charging)
            SELECT car.id,
                   now() - make_interval(hours => %s - hour),
                   20 + (hour * 7 + car.id) %% 80,
                   (20 + (hour * 7 + car.id) %% 80) * 4.4,
                   30000 + hour * 1.25,
                   (hour %% 24) BETWEEN 1 AND 4
              FROM ({query}) AS car (id)
             CROSS JOIN generate_series(1, %s) AS hour
            """,  # noqa: S608 - table name from the model, the subquery from the ORM
            [readings, *params, readings],
        )


def create_page_users() -> list[Page]:
    """A person per CAR_COUNTS, with that many cars and a month of their history; their connections are healthy, so no
    sweep touches them. Before them, HISTORY_CARS other cars and their history fill the table the pages read."""
    create_history_cars()
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
            scopes=SCOPES,
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
        add_history(Vehicle.objects.filter(owner=user))
        pages.append(Page(name=f"/vehicles/ with {count}", path=VEHICLES_PATH, user=user, vehicles=count))
    with connection.cursor() as cursor:
        # As the table would be after autovacuum caught up: its work on the new rows is not the pages' cost.
        cursor.execute(f"VACUUM ANALYZE {Reading._meta.db_table}")
    someone = pages[-1].user
    car = Vehicle.objects.filter(owner=someone).order_by("pk").first()
    return [
        Page(name=TEXT_FLOOR, path=TRIVIAL_TEXT_PATH, user=someone, vehicles=0),
        Page(name=PAGE_FLOOR, path=TRIVIAL_PAGE_PATH, user=someone, vehicles=0),
        *pages,
        Page(name=CAR_PAGE, path=f"/vehicles/{car.pk}/", user=someone, vehicles=0),
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
    if page.vehicles and response.content.count(b'<li class="car') != page.vehicles:
        raise RuntimeError(f"{page.name}: the garage does not show {page.vehicles} cars")
    if page.name == CAR_PAGE and response.content.count(b'<figure class="chart"') != 4:
        raise RuntimeError(f"{page.name}: the page does not draw its four charts")
    return len(queries)


def check_served(base_url: str, page: Page, cookie: str) -> None:
    """A signed-out answer is a redirect that wrk would count as a success: make sure the page itself comes back."""
    response = requests.get(
        base_url + page.path, cookies={settings.SESSION_COOKIE_NAME: cookie}, allow_redirects=False, timeout=10
    )
    if response.status_code != 200:
        raise RuntimeError(f"{page.name} answered {response.status_code} through gunicorn")


def wrk(url: str, cookie: str, *, seconds: int, connections: int, name: str) -> Load:
    report = bench_wrk.run(
        url,
        seconds=seconds,
        connections=connections,
        timeout=seconds + 30,
        options=["-H", f"Cookie: {settings.SESSION_COOKIE_NAME}={cookie}"],
        script_args=[],
    )
    return Load(
        page=name,
        per_second=report.per_second,
        p50_ms=report.p50_ms,
        p99_ms=report.p99_ms,
        requests=report.requests,
    )
