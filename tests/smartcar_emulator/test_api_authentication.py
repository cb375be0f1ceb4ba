"""API Authentication: the IAM token endpoint, the application token with sc-user-id on v3, connections."""

from __future__ import annotations

import pytest
import requests
import smartcar
from django.conf import settings
from django.test import override_settings

from smartcar_emulator.checks import api_client_secrets
from tests.helpers import ALL_SCOPES

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def iam(emulator_url):
    """iam(**form) -> the IAM token endpoint's answer; the emulator's API client unless told otherwise."""

    def post(**form: str) -> requests.Response:
        fields = {
            "grant_type": "client_credentials",
            "client_id": settings.SMARTCAR_EMULATOR_API_CLIENT_ID,
            "client_secret": settings.SMARTCAR_EMULATOR_API_CLIENT_SECRETS[0],
            **form,
        }
        return requests.post(f"{emulator_url}/iam/oauth2/token", data=fields, timeout=10)

    return post


@pytest.fixture
def app_token(iam) -> str:
    return iam().json()["access_token"]


@pytest.fixture
def v3(emulator_url, app_token):
    """v3(method, path, user_id=..., token=...) -> a v3 call made as an application with API Authentication."""

    def call(method: str, path: str, *, user_id: str | None = None, token: str | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {token or app_token}"}
        if user_id is not None:
            headers["sc-user-id"] = user_id
        url = f"{emulator_url}/vehicle-api/v3{path}"
        return requests.request(method, url, headers=headers, timeout=10, **kwargs)

    return call


@pytest.fixture
def person(walk_connect, control):
    """person(username, scopes) -> (Smartcar user id from Connect's redirect, that person's car ids)."""

    def connect(username: str, scopes: list[str] | None = None) -> tuple[str, list[str]]:
        result = walk_connect(username, scopes or ALL_SCOPES)
        cars = [car["vehicle_id"] for car in control("GET", f"users/{username}/vehicles").json()["vehicles"]]
        return result["user_id"], cars

    return connect


def test_iam_mints_an_hour_long_application_token_without_refresh_token(iam):
    response = iam()

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert response.headers["Cache-Control"] == "no-store"


def test_iam_refuses_a_bad_secret_or_client_as_invalid_client(iam):
    for form in ({"client_secret": "rotated-away"}, {"client_id": "client_someone_else"}):
        response = iam(**form)

        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert response.json()["error_description"]


@override_settings(SMARTCAR_EMULATOR_API_CLIENT_SECRETS=["newest", "middle", "oldest"])
def test_iam_accepts_any_of_three_secrets(iam):
    for secret in ("newest", "middle", "oldest"):
        assert iam(client_secret=secret).status_code == 200
    assert iam(client_secret="emulator-api-client-secret").status_code == 401


@override_settings(SMARTCAR_EMULATOR_API_CLIENT_SECRETS=["a", "b", "c", "d"])
def test_a_system_check_refuses_more_than_three_secrets():
    assert [error.id for error in api_client_secrets(None)] == ["smartcar_emulator.E002"]


def test_iam_needs_grant_type_and_knows_only_client_credentials(iam):
    missing, other = iam(grant_type=""), iam(grant_type="authorization_code")

    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    assert (other.status_code, other.json()["error"]) == (400, "unsupported_grant_type")


def test_iam_accepts_http_basic_as_oauth_allows(emulator_url):
    response = requests.post(
        f"{emulator_url}/iam/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(settings.SMARTCAR_EMULATOR_API_CLIENT_ID, settings.SMARTCAR_EMULATOR_API_CLIENT_SECRETS[0]),
        timeout=10,
    )

    assert response.status_code == 200


def test_the_application_token_reads_a_persons_car_with_their_user_id(person, v3, control):
    user_id, cars = person("alice")

    vehicle = v3("GET", f"/vehicles/{cars[0]}", user_id=user_id)
    signals = v3("GET", f"/vehicles/{cars[0]}/signals", user_id=user_id)

    assert vehicle.status_code == 200
    assert vehicle.json()["id"] == cars[0]
    assert signals.status_code == 200
    assert signals.json()["data"]
    logged = control("GET", "requests", params={"limit": 1}).json()["requests"][0]
    assert (logged["user_id"], logged["vehicle_id"], logged["status_code"]) == (user_id, cars[0], 200)


def test_a_persons_id_never_opens_another_persons_car(person, v3):
    _, alice_cars = person("alice")
    bob_id, bob_cars = person("bob")

    for path in (f"/vehicles/{alice_cars[0]}", f"/vehicles/{alice_cars[0]}/signals"):
        response = v3("GET", path, user_id=bob_id)

        assert response.status_code == 403
        assert response.json() == {
            "errors": [
                {
                    "links": {
                        "about": "https://smartcar.com/docs/errors/api-errors/authentication-errors#access-denied"
                    },
                    "status": "403",
                    "type": "AUTHENTICATION",
                    "code": "ACCESS_DENIED",
                    "title": "Access Denied",
                    "detail": "The given token does not provide access to the requested resource.",
                }
            ]
        }
    assert v3("POST", f"/vehicles/{alice_cars[0]}/commands/security/unlock", user_id=bob_id).status_code == 403
    assert v3("GET", f"/vehicles/{bob_cars[0]}", user_id=bob_id).status_code == 200


@pytest.mark.parametrize("user_id", [None, "", "not-a-uuid", "0b6f2a4e-8a2b-4c55-9d41-6f0a3c2e9b11"])
def test_without_a_user_id_that_gave_the_car_the_application_token_is_access_denied(person, v3, user_id):
    _, cars = person("alice")

    response = v3("GET", f"/vehicles/{cars[0]}/signals", user_id=user_id)

    assert (response.status_code, response.json()["errors"][0]["code"]) == (403, "ACCESS_DENIED")


def test_an_expired_or_unknown_application_token_is_unauthorized(person, v3, control):
    user_id, cars = person("alice")
    control("PUT", "clock", json={"offset_seconds": 3601})

    expired = v3("GET", f"/vehicles/{cars[0]}", user_id=user_id)
    unknown = v3("GET", f"/vehicles/{cars[0]}", user_id=user_id, token="made-up")

    for response in (expired, unknown):
        assert response.status_code == 401
        assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
        assert response.json()["errors"][0]["detail"] == "The Authorization token is missing or invalid."


def test_the_application_token_opens_nothing_on_v2(app_token, person):
    person("alice")

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.get_vehicles(app_token)

    assert (excinfo.value.status_code, excinfo.value.type) == (401, "AUTHENTICATION")


def test_the_application_sees_the_permissions_the_person_gave(person, v3):
    user_id, cars = person("carol", ["read_vehicle_info", "read_odometer"])

    signals = v3("GET", f"/vehicles/{cars[0]}/signals", user_id=user_id).json()["data"]
    refused = v3("GET", f"/vehicles/{cars[0]}/signals/location-preciselocation", user_id=user_id)
    lock = v3("POST", f"/vehicles/{cars[0]}/commands/security/lock", user_id=user_id)

    assert "odometer-traveleddistance" in {signal["id"] for signal in signals}
    assert (refused.status_code, refused.json()["errors"][0]["type"]) == (403, "PERMISSION")
    assert (lock.status_code, lock.json()["errors"][0]["type"]) == (403, "PERMISSION")


def test_commands_with_the_application_token(person, v3, control):
    user_id, cars = person("dave")

    response = v3("POST", f"/vehicles/{cars[0]}/commands/security/unlock", user_id=user_id)

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"].startswith("exec_")
    assert data["type"] == "command-execution"
    assert data["attributes"] == {
        "commandType": "security-unlock",
        "status": {"value": "SUCCESS"},
        "executionMode": "sync",
    }
    assert {"executedAt", "completedAt", "durationInSeconds"} == data["meta"].keys()
    assert control("GET", f"vehicles/{cars[0]}").json()["is_locked"] is False


def test_connections_list_a_persons_cars_newest_first_and_page(person, v3):
    erin_id, erin_cars = person("big_fleet")
    frank_id, _ = person("frank")

    first = v3("GET", "/connections", params={"filter[userId]": erin_id}).json()
    second = v3("GET", "/connections", params={"filter[userId]": erin_id, "page[number]": 2}).json()
    everyone = v3("GET", "/connections").json()

    assert (first["meta"]["pageNumber"], first["meta"]["pageSize"], first["meta"]["totalCount"]) == (1, 10, 12)
    found = [c["relationships"]["vehicle"]["data"]["id"] for c in first["data"] + second["data"]]
    assert sorted(found) == sorted(erin_cars)
    assert {c["relationships"]["user"]["data"]["id"] for c in first["data"]} == {erin_id}
    assert first["links"]["next"]
    assert second["links"]["next"] is None
    assert frank_id in {c["relationships"]["user"]["data"]["id"] for c in everyone["data"]}
    one = v3("GET", "/connections", params={"filter[vehicleId]": erin_cars[3]}).json()["data"]
    assert [c["relationships"]["vehicle"]["data"]["id"] for c in one] == [erin_cars[3]]


def test_connections_need_the_application_token(connected, v3):
    vehicle_token = connected("gina", ["read_vehicle_info"]).access_token

    response = v3("GET", "/connections", token=vehicle_token)

    assert (response.status_code, response.json()["errors"][0]["code"]) == (401, "UNAUTHORIZED")


def test_removing_a_connection_takes_the_car_from_the_application(person, v3):
    user_id, cars = person("big_fleet")
    listed = v3("GET", "/connections", params={"filter[vehicleId]": cars[0]}).json()["data"]

    removed = v3("DELETE", f"/connections/{listed[0]['id']}")

    assert removed.status_code == 204
    assert v3("GET", f"/vehicles/{cars[0]}", user_id=user_id).status_code == 403
    assert v3("GET", f"/vehicles/{cars[1]}", user_id=user_id).status_code == 200
    assert v3("DELETE", f"/connections/{listed[0]['id']}").status_code == 404


def test_removing_a_user_takes_all_their_cars(person, v3):
    user_id, cars = person("helen")

    assert v3("DELETE", f"/users/{user_id}").status_code == 204

    assert v3("GET", f"/vehicles/{cars[0]}", user_id=user_id).status_code == 403
    assert v3("GET", "/connections", params={"filter[userId]": user_id}).json()["data"] == []
    assert v3("DELETE", f"/users/{user_id}").status_code == 404


def test_one_approval_serves_the_vehicle_token_and_the_application_token(walk_connect, auth_client, v3):
    result = walk_connect("ivy", ["read_vehicle_info"])
    vehicle_token = auth_client.exchange_code(result["code"]).access_token

    vehicle_id = smartcar.get_vehicles(vehicle_token).vehicles[0]

    assert v3("GET", f"/vehicles/{vehicle_id}", user_id=result["user_id"]).json()["id"] == vehicle_id
    assert v3("GET", f"/vehicles/{vehicle_id}", token=vehicle_token).json()["id"] == vehicle_id
