"""The emulator's answers against shapes Smartcar publishes, not against our own assumptions.

Every expected shape below is transcribed from a named source (Smartcar's documentation or a published SDK's test
fixtures, or a captured answer in a third-party client's fixtures) and cited next to it. A shape is the JSON with every
scalar replaced by its kind, so that example values do not matter but every key, nesting and kind does.
"""

from __future__ import annotations

import re

import pytest
import requests
import smartcar
from django.conf import settings

from tests.helpers import ALL_SCOPES
from tests.smartcar_emulator.conftest import REDIRECT_URI

pytestmark = pytest.mark.django_db(transaction=True)

STRING, NUMBER, BOOL, NULL = "string", "number", "bool", "null"


def shape(value):
    """The JSON's structure with each scalar replaced by its kind; a list by the shape of its first item."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUMBER
    return NULL if value is None else STRING


# smartcar/java-sdk src/test/resources/SignalV3.json (and the example in smartcar/node-sdk lib/vehicle.js): one signal,
# not wrapped in "data"; retrievedAt 1752104218549 and oemUpdatedAt 1752104118549 (epoch milliseconds); links.self
# "/vehicles/tst2e255-d3c8-4f90-9fec-e6e68b98e9cb/signals/odometer-traveleddistance".
JAVA_SIGNAL_V3 = {
    "id": STRING,
    "type": STRING,
    "attributes": {
        "code": STRING,
        "name": STRING,
        "group": STRING,
        "status": {"value": STRING},
        "body": {"unit": STRING, "value": NUMBER},
    },
    "meta": {"retrievedAt": NUMBER, "oemUpdatedAt": NUMBER},
    "links": {"self": STRING},
}

# smartcar.com/docs/api-reference/get-signals (response example; the same object is v3SignalsResponse in
# smartcar/node-sdk test/unit/lib/vehicle.js): paging by page and pageSize, links relative and "previous" null on the
# first page, e.g.
# "self": "/vehicles/vehicle123/signals?page=1&pageSize=10", "next": "/vehicles/vehicle123/signals?page=2&pageSize=10".
DOCS_SIGNALS_META = {"page": NUMBER, "pageSize": NUMBER, "totalCount": NUMBER}
DOCS_SIGNALS_LINKS = {"self", "first", "previous", "next", "last"}
DOCS_INCLUDED_VEHICLE = {
    "id": STRING,
    "type": STRING,
    "attributes": {"make": STRING, "model": STRING, "year": NUMBER},
    "links": {"self": STRING},
}

# smartcar/java-sdk src/test/resources/GetVehicle.json: the vehicle itself (year 2019, a number), links.self
# "/vehicles/36ab27d0-fd9d-4455-823a-ce30af709ffc". smartcar.com/docs/api-reference/signals/schema: make, model, year,
# mode and powertrainType are in every answer.
JAVA_GET_VEHICLE = {
    "id": STRING,
    "type": STRING,
    "attributes": {"make": STRING, "model": STRING, "year": NUMBER},
    "links": {"self": STRING},
}

# A signal the car could not give, as captured from Smartcar's v3 API in wbyoung/smartcar
# tests/fixtures/api/vw_id_4.ok.v3.json ("closure-sunroof" of a Volkswagen ID.4): status ERROR with the error, and
# the other signals of the same 200 still SUCCESS.
CAPTURED_NOT_CAPABLE = {
    "type": "COMPATIBILITY",
    "code": "VEHICLE_NOT_CAPABLE",
    "title": "Vehicle Not Capable",
    "detail": "The vehicle is incapable of performing your request.",
    "description": "Deprecated. Use detail",
}
CAPTURED_ERROR_STATUS = {
    "value": STRING,
    "error": {
        "type": STRING,
        "code": STRING,
        "title": STRING,
        "detail": STRING,
        "description": STRING,
        "resolution": {"type": NULL},
    },
}

# smartcar.com/docs/errors/api-errors/v3/authentication-errors: the two examples, word for word.
DOCS_V3_UNAUTHORIZED = {
    "status": "401",
    "type": "AUTHENTICATION",
    "code": "UNAUTHORIZED",
    "title": "Unauthorized",
    "detail": "The Authorization token is missing or invalid.",
}
DOCS_V3_ACCESS_DENIED = {
    "status": "403",
    "type": "AUTHENTICATION",
    "code": "ACCESS_DENIED",
    "title": "Access Denied",
    "detail": "The given token does not provide access to the requested resource.",
}

# The v2 error body: smartcar.com/docs/api-reference/api-errors ("All Smartcar errors contain the following fields").
DOCS_V2_ERROR_FIELDS = {"type", "code", "description", "docURL", "statusCode", "requestId", "resolution"}

# smartcar.com/docs/api-reference/get-connection (response example): one connection.
DOCS_CONNECTION = {
    "id": STRING,
    "type": STRING,
    "attributes": {
        "permissions": [STRING],
        "vehicle": {"make": STRING, "model": STRING, "year": NUMBER, "mode": STRING, "powertrainType": STRING},
    },
    "relationships": {
        "vehicle": {"data": {"id": STRING, "type": STRING}, "links": {"related": STRING}},
        "user": {"data": {"id": STRING, "type": STRING}},
    },
    "meta": {"createdAt": STRING, "updatedAt": STRING},
    "links": {"self": STRING},
}
# A list of connections as captured in wbyoung/smartcar tests/fixtures/api/list_connections.json.
CAPTURED_CONNECTIONS_META = {
    "pageNumber": NUMBER,
    "pageSize": NUMBER,
    "totalCount": NUMBER,
    "orderBy": STRING,
    "orderDirection": STRING,
}
CAPTURED_CONNECTIONS_LINKS = {"self", "first", "last", "next", "prev"}

# SMARTCAR.md §4b, from smartcar.com/docs/api-reference/security/unlock-doors: a command's answer.
DOCS_COMMAND = {
    "data": {
        "id": STRING,
        "type": STRING,
        "attributes": {"commandType": STRING, "status": {"value": STRING}, "executionMode": STRING},
        "meta": {"executedAt": STRING, "completedAt": STRING, "durationInSeconds": NUMBER},
    }
}


@pytest.fixture
def car(connected, control):
    """A BEV of big_fleet with every permission: (vehicle access token, vehicle id)."""
    token = connected("big_fleet", ALL_SCOPES).access_token
    cars = control("GET", "users/big_fleet/vehicles").json()["vehicles"]
    return token, next(c["vehicle_id"] for c in cars if c["make"] == "TESLA")


@pytest.fixture
def v3_get(emulator_url):
    def get(path: str, token: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return requests.get(f"{emulator_url}/vehicle-api/v3{path}", headers=headers, timeout=10, **kwargs)

    return get


def test_a_signal_has_the_shape_of_the_java_sdk_fixture(car):
    token, vehicle_id = car

    signal = smartcar.Vehicle(vehicle_id, token).get_signal("odometer-traveleddistance")["body"]

    assert shape(signal) == JAVA_SIGNAL_V3
    assert (signal["attributes"]["name"], signal["attributes"]["group"]) == ("TraveledDistance", "Odometer")
    assert signal["attributes"]["body"]["unit"] == "kilometers"
    assert signal["links"]["self"] == f"/vehicles/{vehicle_id}/signals/odometer-traveleddistance"
    # Epoch milliseconds: thirteen digits now, as in the fixture's 1752104218549.
    assert len(str(signal["meta"]["retrievedAt"])) == len("1752104218549")


def test_a_page_of_signals_has_the_documented_meta_links_and_included_vehicle(car):
    token, vehicle_id = car

    page = smartcar.Vehicle(vehicle_id, token).get_signals()["body"]

    assert set(page) == {"data", "meta", "links", "included"}
    assert shape(page["meta"]) == DOCS_SIGNALS_META
    assert set(page["links"]) == DOCS_SIGNALS_LINKS
    assert page["links"]["previous"] is None
    for name in ("self", "first", "next", "last"):
        assert re.fullmatch(rf"/vehicles/{vehicle_id}/signals\?page=\d+&pageSize=10", page["links"][name])
    included = shape(page["included"]["vehicle"])
    assert included.keys() == DOCS_INCLUDED_VEHICLE.keys()
    assert DOCS_INCLUDED_VEHICLE["attributes"].items() <= included["attributes"].items()
    successes = [s for s in page["data"] if s["attributes"]["status"]["value"] == "SUCCESS"]
    assert successes
    assert all(shape(s)["meta"] == JAVA_SIGNAL_V3["meta"] for s in successes)


def test_the_vehicle_has_the_shape_of_the_java_sdk_fixture_with_mode_and_powertrain(car):
    token, vehicle_id = car

    vehicle = smartcar.smartcar.get_vehicle(token, vehicle_id)["body"]

    assert {key: value for key, value in shape(vehicle).items() if key != "attributes"} == {
        key: value for key, value in JAVA_GET_VEHICLE.items() if key != "attributes"
    }
    assert set(vehicle["attributes"]) == {"make", "model", "year", "mode", "powertrainType"}
    assert isinstance(vehicle["attributes"]["year"], int)
    assert vehicle["links"]["self"] == f"/vehicles/{vehicle_id}"


def test_a_signal_the_car_cannot_give_is_an_error_status_as_smartcar_answers_it(car, v3_get):
    token, vehicle_id = car

    signal = v3_get(f"/vehicles/{vehicle_id}/signals/closure-sunroof", token).json()

    status = signal["attributes"]["status"]
    assert shape(status) == CAPTURED_ERROR_STATUS
    assert status["value"] == "ERROR"
    assert CAPTURED_NOT_CAPABLE.items() <= status["error"].items()
    assert "body" not in signal["attributes"]


def test_a_sleeping_car_uses_the_documented_type_and_code(connected, v3_get):
    # smartcar.com/docs/api-reference/webhooks/events/vehicle-error lists the pairs a signal fails with, among them
    # VEHICLE_STATE / ASLEEP and COMPATIBILITY / VEHICLE_NOT_CAPABLE.
    token = connected("sleepy", ALL_SCOPES).access_token
    vehicle_id = smartcar.get_vehicles(token).vehicles[0]

    response = v3_get(f"/vehicles/{vehicle_id}/signals/odometer-traveleddistance", token)

    assert response.status_code == 200
    error = response.json()["attributes"]["status"]["error"]
    assert (error["type"], error["code"]) == ("VEHICLE_STATE", "ASLEEP")
    assert shape(response.json()["attributes"]["status"]) == CAPTURED_ERROR_STATUS


def test_the_iam_token_answer_is_the_documented_one(emulator_url):
    # smartcar.com/docs/api-reference/authorization/request-access-token: form fields, {access_token, token_type,
    # expires_in}, valid for 1 hour (3600 seconds), no refresh token; 400 invalid_request without grant_type, 401
    # invalid_client for a bad client_id or client_secret.
    url = f"{emulator_url}/iam/oauth2/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": settings.SMARTCAR_EMULATOR_API_CLIENT_ID,
        "client_secret": settings.SMARTCAR_EMULATOR_API_CLIENT_SECRETS[0],
    }

    good = requests.post(url, data=form, timeout=10)
    bad = requests.post(url, data={**form, "client_secret": "nope"}, timeout=10)
    missing = requests.post(url, data={**form, "grant_type": ""}, timeout=10)

    assert shape(good.json()) == {"access_token": STRING, "token_type": STRING, "expires_in": NUMBER}
    assert (good.json()["token_type"], good.json()["expires_in"]) == ("Bearer", 3600)
    assert (bad.status_code, bad.json()["error"]) == (401, "invalid_client")
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")


def test_v3_authentication_errors_are_the_documented_examples(walk_connect, emulator_url, v3_get):
    form = {
        "grant_type": "client_credentials",
        "client_id": settings.SMARTCAR_EMULATOR_API_CLIENT_ID,
        "client_secret": settings.SMARTCAR_EMULATOR_API_CLIENT_SECRETS[0],
    }
    app_token = requests.post(f"{emulator_url}/iam/oauth2/token", data=form, timeout=10).json()["access_token"]
    alice = walk_connect("alice", ["read_vehicle_info"])
    bob = walk_connect("bob", ["read_vehicle_info"])
    bobs_car = requests.get(
        f"{emulator_url}/vehicle-api/v3/connections",
        params={"filter[userId]": bob["user_id"]},
        headers={"Authorization": f"Bearer {app_token}"},
        timeout=10,
    ).json()["data"][0]["relationships"]["vehicle"]["data"]["id"]

    unauthorized = v3_get(f"/vehicles/{bobs_car}", "expired-or-made-up", headers={"sc-user-id": bob["user_id"]})
    denied = v3_get(f"/vehicles/{bobs_car}", app_token, headers={"sc-user-id": alice["user_id"]})

    for response, documented in ((unauthorized, DOCS_V3_UNAUTHORIZED), (denied, DOCS_V3_ACCESS_DENIED)):
        assert response.status_code == int(documented["status"])
        (member,) = response.json()["errors"]
        assert documented.items() <= member.items()
        assert member["links"]["about"].startswith("https://smartcar.com/docs/errors/api-errors/authentication-errors")


@pytest.mark.parametrize(
    ("documented", "provoke"),
    [
        # smartcar.com/docs/errors/api-errors/authentication-errors: code null, 401, resolution null, this text.
        (
            {
                "type": "AUTHENTICATION",
                "code": None,
                "statusCode": 401,
                "resolution": {"type": None},
                "description": "The authorization header is missing or malformed, or it contains invalid or expired "
                "authentication credentials. Please check for missing parameters, spelling and casing mistakes, and "
                "other syntax issues.",
            },
            "bad-token",
        ),
        # smartcar.com/docs/errors/api-errors/permission-errors: code null, 403, resolution REAUTHENTICATE.
        (
            {"type": "PERMISSION", "code": None, "statusCode": 403, "resolution": {"type": "REAUTHENTICATE"}},
            "permission",
        ),
        # smartcar.com/docs/errors/api-errors/vehicle-state-errors#asleep: 409, resolution null.
        ({"type": "VEHICLE_STATE", "code": "ASLEEP", "statusCode": 409, "resolution": {"type": None}}, "asleep"),
        # smartcar.com/docs/errors/api-errors/compatibility-errors#vehicle-not-capable: 501, resolution null.
        (
            {"type": "COMPATIBILITY", "code": "VEHICLE_NOT_CAPABLE", "statusCode": 501, "resolution": {"type": None}},
            "not-capable",
        ),
    ],
)
def test_v2_errors_are_the_documented_examples(connected, control, emulator_url, documented, provoke):
    if provoke in ("bad-token", "permission"):
        token = connected("nora", ["read_vehicle_info"]).access_token
        vehicle_id, path = smartcar.get_vehicles(token).vehicles[0], "odometer"
        token = "bad-token" if provoke == "bad-token" else token
    elif provoke == "asleep":
        token = connected("sleepy", ALL_SCOPES).access_token
        vehicle_id, path = smartcar.get_vehicles(token).vehicles[0], "odometer"
    else:
        token = connected("big_fleet", ALL_SCOPES).access_token
        cars = control("GET", "users/big_fleet/vehicles").json()["vehicles"]
        vehicle_id, path = next(c["vehicle_id"] for c in cars if c["powertrain"] == "ICE"), "battery"

    url = f"{emulator_url}/api/v2.0/vehicles/{vehicle_id}/{path}"
    response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    body = response.json()
    assert response.status_code == documented["statusCode"]
    assert body.keys() >= DOCS_V2_ERROR_FIELDS
    assert documented.items() <= body.items()
    page = documented["type"].lower().replace("_", "-")
    assert body["docURL"].startswith(f"https://smartcar.com/docs/errors/api-errors/{page}-errors")


def test_a_v3_command_answers_in_the_documented_shape(car, emulator_url):
    token, vehicle_id = car

    response = requests.post(
        f"{emulator_url}/vehicle-api/v3/vehicles/{vehicle_id}/commands/security/unlock",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )

    assert shape(response.json()) == DOCS_COMMAND
    assert response.json()["data"]["attributes"]["commandType"] == "security-unlock"


def test_connections_have_the_documented_shape_and_the_captured_paging(walk_connect, emulator_url, v3_get):
    form = {
        "grant_type": "client_credentials",
        "client_id": settings.SMARTCAR_EMULATOR_API_CLIENT_ID,
        "client_secret": settings.SMARTCAR_EMULATOR_API_CLIENT_SECRETS[0],
    }
    app_token = requests.post(f"{emulator_url}/iam/oauth2/token", data=form, timeout=10).json()["access_token"]
    user_id = walk_connect("big_fleet", ALL_SCOPES)["user_id"]

    listed = v3_get("/connections", app_token, params={"filter[userId]": user_id}).json()

    assert shape(listed["data"][0]) == DOCS_CONNECTION
    assert shape(listed["meta"]) == CAPTURED_CONNECTIONS_META
    assert set(listed["links"]) == CAPTURED_CONNECTIONS_LINKS


def test_connect_redirects_with_code_state_and_user_id(walk_connect):
    # smartcar.com/docs/connect/handle-the-response: a success carries code, state and user_id ("use it as the
    # sc-user-id header").
    assert set(walk_connect("alice", ["read_vehicle_info"])) == {"code", "state", "user_id"}


def test_v2_answers_have_the_shapes_of_the_java_sdk_fixtures(walk_connect, emulator_url):
    # smartcar/java-sdk src/test/resources: AuthGetTokens.json, GetVehicles.json, GetUser.json, SecurityAction.json.
    tokens = requests.post(
        f"{emulator_url}/auth/oauth/token",
        data={"grant_type": "authorization_code", "code": walk_connect("alice", ALL_SCOPES)["code"]}
        | {"redirect_uri": REDIRECT_URI},
        auth=(settings.SMARTCAR_EMULATOR_CLIENT_ID, settings.SMARTCAR_EMULATOR_CLIENT_SECRET),
        timeout=10,
    ).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    vehicles = requests.get(f"{emulator_url}/api/v2.0/vehicles", headers=headers, timeout=10).json()
    user = requests.get(f"{emulator_url}/api/v2.0/user", headers=headers, timeout=10).json()
    lock = requests.post(
        f"{emulator_url}/api/v2.0/vehicles/{vehicles['vehicles'][0]}/security",
        json={"action": "LOCK"},
        headers=headers,
        timeout=10,
    ).json()

    assert shape(tokens) == {
        "access_token": STRING,
        "token_type": STRING,
        "expires_in": NUMBER,
        "refresh_token": STRING,
    }
    assert shape(vehicles) == {"paging": {"count": NUMBER, "offset": NUMBER}, "vehicles": [STRING]}
    assert shape(user) == {"id": STRING}
    assert shape(lock) == {"status": STRING, "message": STRING}
