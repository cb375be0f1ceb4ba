from __future__ import annotations

import pytest
import requests
import smartcar
from smartcar.smartcar import get_vehicle

from tests.helpers import ALL_SCOPES

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fleet(connected, control):
    """big_fleet connected with every permission, and one car id per powertrain."""
    token = connected("big_fleet", ALL_SCOPES).access_token
    cars = control("GET", "users/big_fleet/vehicles").json()["vehicles"]
    by_kind = {kind: next(c["vehicle_id"] for c in cars if c["powertrain"] == kind) for kind in ("BEV", "ICE", "PHEV")}
    return token, by_kind


def codes(body: dict) -> set[str]:
    return {signal["attributes"]["code"] for signal in body["data"]}


def test_get_vehicle_describes_the_car_and_its_powertrain(fleet):
    token, cars = fleet

    response = get_vehicle(token, cars["PHEV"])

    data = response["body"]["data"]
    assert data["id"] == cars["PHEV"]
    assert data["type"] == "vehicle"
    assert data["attributes"]["powertrainType"] == "PHEV"
    assert {"make", "model", "year", "mode"} <= data["attributes"].keys()
    assert data["links"]["self"].endswith(f"/v3/vehicles/{cars['PHEV']}")
    assert response["headers"]["SC-Request-Id"]


def test_signals_match_an_electric_car(fleet):
    token, cars = fleet

    body = smartcar.Vehicle(cars["BEV"], token).get_signals()["body"]

    assert {"tractionbattery-stateofcharge", "tractionbattery-range", "charge-ischarging"} <= codes(body)
    assert not any(code.startswith("internalcombustionengine-") for code in codes(body))
    assert body["meta"]["totalCount"] == len(body["data"])
    assert body["included"]["vehicle"]["id"] == cars["BEV"]


def test_signals_match_a_fuel_car(fleet):
    token, cars = fleet

    body = smartcar.Vehicle(cars["ICE"], token).get_signals()["body"]

    assert "internalcombustionengine-fuellevel" in codes(body)
    assert not any(code.startswith(("tractionbattery-", "charge-")) for code in codes(body))


def test_signal_values_agree_with_v2(fleet):
    token, cars = fleet
    car = smartcar.Vehicle(cars["BEV"], token)

    soc = car.get_signal("tractionbattery-stateofcharge")["body"]["data"]
    odometer = car.get_signal("odometer-traveleddistance")["body"]["data"]["attributes"]["body"]
    battery = car.battery()

    assert soc["attributes"]["status"] == {"value": "SUCCESS"}
    assert soc["attributes"]["body"]["unit"] == "percent"
    assert soc["attributes"]["body"]["value"] == pytest.approx(battery.percent_remaining * 100, abs=0.1)
    assert odometer["unit"] == "kilometers"
    assert odometer["value"] == pytest.approx(car.odometer().distance, abs=0.1)
    assert isinstance(soc["meta"]["retrievedAt"], int)


def test_signals_follow_the_unit_system(fleet):
    token, cars = fleet

    body = smartcar.Vehicle(cars["ICE"], token, {"unit_system": "imperial"}).get_signal("odometer-traveleddistance")

    assert body["body"]["data"]["attributes"]["body"]["unit"] == "miles"


def test_signals_leave_out_what_the_grant_does_not_allow(connected):
    token = connected("nora", ["read_vehicle_info", "read_odometer"]).access_token
    car = smartcar.Vehicle(smartcar.get_vehicles(token).vehicles[0], token)

    assert codes(car.get_signals()["body"]) == {"odometer-traveleddistance"}
    with pytest.raises(smartcar.SmartcarException) as excinfo:
        car.get_signal("location-preciselocation")
    assert (excinfo.value.status_code, excinfo.value.type) == (403, "PERMISSION")


def test_a_signal_the_car_cannot_provide_is_not_zero(fleet):
    token, cars = fleet

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.Vehicle(cars["ICE"], token).get_signal("tractionbattery-stateofcharge")

    assert excinfo.value.type == "COMPATIBILITY"


def test_an_unknown_signal_is_resource_not_found(fleet):
    token, cars = fleet

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.Vehicle(cars["BEV"], token).get_signal("flux-capacitor")

    assert (excinfo.value.status_code, excinfo.value.type) == (404, "RESOURCE_NOT_FOUND")


def test_signals_are_paged(fleet, emulator_url):
    token, cars = fleet
    url = f"{emulator_url}/vehicle-api/v3/vehicles/{cars['PHEV']}/signals"
    headers = {"Authorization": f"Bearer {token}"}
    everything = requests.get(url, headers=headers, timeout=10).json()

    page = requests.get(url, params={"page": 2, "pageSize": 5}, headers=headers, timeout=10).json()

    assert page["meta"] == {"page": 2, "pageSize": 5, "totalCount": everything["meta"]["totalCount"]}
    assert [s["id"] for s in page["data"]] == [s["id"] for s in everything["data"][5:10]]
    assert page["links"]["previous"].endswith("page=1&pageSize=5")
    assert page["links"]["next"].endswith("page=3&pageSize=5")
    assert everything["links"]["next"] is None


def test_v3_refuses_a_car_outside_the_grant(connected, control):
    token = connected("olga", ["read_vehicle_info"]).access_token
    stranger = control("GET", "users/someone-else/vehicles").json()["vehicles"][0]["vehicle_id"]

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        get_vehicle(token, stranger)

    assert (excinfo.value.status_code, excinfo.value.type) == (401, "AUTHENTICATION")
