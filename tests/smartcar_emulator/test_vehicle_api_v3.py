from __future__ import annotations

import time

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
    by_kind["TESLA"] = next(c["vehicle_id"] for c in cars if c["make"] == "TESLA")
    by_kind["BMW"] = next(c["vehicle_id"] for c in cars if c["make"] == "BMW")
    return token, by_kind


@pytest.fixture
def all_signals(emulator_url):
    """all_signals(token, vehicle_id) -> every signal, following links.next as a client must."""

    def read(token: str, vehicle_id: str, headers: dict | None = None) -> list[dict]:
        base = f"{emulator_url}/vehicle-api/v3"
        url, found = f"{base}/vehicles/{vehicle_id}/signals", []
        for _ in range(20):
            response = requests.get(url, headers={"Authorization": f"Bearer {token}", **(headers or {})}, timeout=10)
            assert response.status_code == 200, response.text
            body = response.json()
            found.extend(body["data"])
            if not body["links"]["next"]:
                return found
            url = base + body["links"]["next"]
        raise AssertionError("the signal pages did not end")

    return read


def by_code(signals: list[dict]) -> dict[str, dict]:
    return {signal["attributes"]["code"]: signal for signal in signals}


def test_get_vehicle_returns_the_vehicle_itself(fleet):
    token, cars = fleet

    response = get_vehicle(token, cars["PHEV"])

    body = response["body"]
    assert body["id"] == cars["PHEV"]
    assert body["type"] == "vehicle"
    assert body["attributes"]["powertrainType"] == "PHEV"
    assert {"make", "model", "year", "mode"} <= body["attributes"].keys()
    assert body["links"] == {"self": f"/vehicles/{cars['PHEV']}"}
    assert response["headers"]["SC-Request-Id"]


def test_every_fleet_car_needs_more_than_one_page_of_signals(fleet, emulator_url):
    token, cars = fleet
    for vehicle_id in (cars["BEV"], cars["ICE"], cars["PHEV"]):
        first = smartcar.Vehicle(vehicle_id, token).get_signals()["body"]

        assert first["meta"]["page"] == 1
        assert first["meta"]["pageSize"] == 10
        assert len(first["data"]) == 10
        assert first["meta"]["totalCount"] > 10
        assert first["links"]["next"] == f"/vehicles/{vehicle_id}/signals?page=2&pageSize=10"


def test_the_pages_together_hold_every_signal_once_and_the_log_shows_each_page(fleet, all_signals, control):
    token, cars = fleet

    signals = all_signals(token, cars["PHEV"])

    codes = [signal["attributes"]["code"] for signal in signals]
    assert len(codes) == len(set(codes)) > 20
    logged = [entry["path"] for entry in control("GET", "requests", params={"limit": 5}).json()["requests"]]
    signals_path = f"/emulator/vehicle-api/v3/vehicles/{cars['PHEV']}/signals"
    assert f"{signals_path}?page=2&pageSize=10" in logged
    assert f"{signals_path}?page=3&pageSize=10" in logged
    assert signals_path in logged


def test_a_page_past_the_last_is_empty_and_links_back(fleet, emulator_url):
    token, cars = fleet
    url = f"{emulator_url}/vehicle-api/v3/vehicles/{cars['BEV']}/signals"

    headers = {"Authorization": f"Bearer {token}"}
    page = requests.get(url, params={"page": 9, "pageSize": 5}, headers=headers, timeout=10).json()

    assert page["data"] == []
    assert page["links"]["next"] is None
    assert page["links"]["previous"] == f"/vehicles/{cars['BEV']}/signals?page=8&pageSize=5"


@pytest.mark.parametrize("params", [{"page": 0}, {"pageSize": 101}, {"page": "two"}])
def test_bad_paging_is_a_validation_error(fleet, emulator_url, params):
    token, cars = fleet
    url = f"{emulator_url}/vehicle-api/v3/vehicles/{cars['BEV']}/signals"

    response = requests.get(url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    assert (response.status_code, response.json()["type"]) == (400, "VALIDATION")


def test_signals_match_an_electric_car(fleet, all_signals):
    token, cars = fleet

    codes = by_code(all_signals(token, cars["BEV"]))

    assert {"tractionbattery-stateofcharge", "tractionbattery-range", "charge-ischarging"} <= codes.keys()
    assert not any(code.startswith("internalcombustionengine-") for code in codes)


def test_signals_match_a_fuel_car(fleet, all_signals):
    token, cars = fleet

    codes = by_code(all_signals(token, cars["ICE"]))

    assert {"internalcombustionengine-fuellevel", "internalcombustionengine-amountremaining"} <= codes.keys()
    assert not any(code.startswith(("tractionbattery-", "charge-")) for code in codes)


def test_a_feature_the_model_lacks_is_an_error_status_not_a_value(fleet, all_signals):
    token, cars = fleet

    tesla, bmw = by_code(all_signals(token, cars["TESLA"])), by_code(all_signals(token, cars["BMW"]))

    sunroof = tesla["closure-sunroof"]["attributes"]
    assert sunroof["status"]["value"] == "ERROR"
    assert (sunroof["status"]["error"]["type"], sunroof["status"]["error"]["code"]) == (
        "COMPATIBILITY",
        "VEHICLE_NOT_CAPABLE",
    )
    assert "body" not in sunroof
    assert tesla["closure-fronttrunk"]["attributes"]["status"] == {"value": "SUCCESS"}
    assert bmw["closure-sunroof"]["attributes"]["status"] == {"value": "SUCCESS"}
    assert bmw["closure-sunroof"]["attributes"]["body"] == {"isOpen": False}


def test_a_sleeping_car_answers_200_with_asleep_on_each_signal_it_must_wake_for(connected, all_signals):
    token = connected("sleepy", ALL_SCOPES).access_token
    vehicle_id = smartcar.get_vehicles(token).vehicles[0]

    signals = by_code(all_signals(token, vehicle_id))

    odometer = signals["odometer-traveleddistance"]
    assert odometer["attributes"]["status"]["value"] == "ERROR"
    assert odometer["attributes"]["status"]["error"]["code"] == "ASLEEP"
    assert odometer["attributes"]["status"]["error"]["type"] == "VEHICLE_STATE"
    assert odometer["meta"] == {}
    vin = signals["vehicleidentification-vin"]
    assert vin["attributes"]["status"] == {"value": "SUCCESS"}
    assert len(vin["attributes"]["body"]["value"]) == 17


def test_one_signal_of_a_sleeping_car_is_a_200_with_its_error(connected):
    token = connected("sleepy", ALL_SCOPES).access_token
    car = smartcar.Vehicle(smartcar.get_vehicles(token).vehicles[0], token)

    signal = car.get_signal("location-preciselocation")["body"]

    assert signal["attributes"]["status"]["error"]["code"] == "ASLEEP"


def test_signal_values_agree_with_v2_and_times_are_epoch_milliseconds(fleet):
    token, cars = fleet
    car = smartcar.Vehicle(cars["BEV"], token)

    before = int(time.time() * 1000)
    soc = car.get_signal("tractionbattery-stateofcharge")["body"]
    odometer = car.get_signal("odometer-traveleddistance")["body"]["attributes"]["body"]
    battery = car.battery()

    assert soc["id"] == "tractionbattery-stateofcharge"
    assert soc["attributes"]["status"] == {"value": "SUCCESS"}
    assert soc["attributes"]["body"]["unit"] == "percent"
    assert soc["attributes"]["body"]["value"] == pytest.approx(battery.percent_remaining * 100, abs=0.1)
    assert odometer["unit"] == "kilometers"
    assert odometer["value"] == pytest.approx(car.odometer().distance, abs=0.1)
    assert before - 1000 <= soc["meta"]["retrievedAt"] <= int(time.time() * 1000) + 1000
    assert soc["meta"]["oemUpdatedAt"] <= soc["meta"]["retrievedAt"]


def test_signals_follow_the_unit_system(fleet):
    token, cars = fleet

    body = smartcar.Vehicle(cars["ICE"], token, {"unit_system": "imperial"}).get_signal("odometer-traveleddistance")

    assert body["body"]["attributes"]["body"]["unit"] == "miles"


def test_signals_leave_out_what_the_grant_does_not_allow(connected, all_signals):
    token = connected("nora", ["read_vehicle_info", "read_odometer"]).access_token
    vehicle_id = smartcar.get_vehicles(token).vehicles[0]

    codes = by_code(all_signals(token, vehicle_id)).keys()

    assert codes == {"odometer-traveleddistance"}
    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.Vehicle(vehicle_id, token).get_signal("location-preciselocation")
    assert (excinfo.value.status_code, excinfo.value.type) == (403, "PERMISSION")


def test_a_signal_of_another_powertrain_is_not_capable_never_zero(fleet):
    token, cars = fleet

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.Vehicle(cars["ICE"], token).get_signal("tractionbattery-stateofcharge")

    assert (excinfo.value.status_code, excinfo.value.type, excinfo.value.code) == (
        501,
        "COMPATIBILITY",
        "VEHICLE_NOT_CAPABLE",
    )


def test_an_unknown_signal_is_resource_not_found(fleet):
    token, cars = fleet

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.Vehicle(cars["BEV"], token).get_signal("flux-capacitor")

    assert (excinfo.value.status_code, excinfo.value.type) == (404, "RESOURCE_NOT_FOUND")


def test_v3_refuses_a_car_outside_the_grant(connected, control):
    token = connected("olga", ["read_vehicle_info"]).access_token
    stranger = control("GET", "users/someone-else/vehicles").json()["vehicles"][0]["vehicle_id"]

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        get_vehicle(token, stranger)

    assert (excinfo.value.status_code, excinfo.value.type) == (401, "AUTHENTICATION")


def command(emulator_url: str, vehicle_id: str, name: str, token: str) -> requests.Response:
    url = f"{emulator_url}/vehicle-api/v3/vehicles/{vehicle_id}/commands/{name}"
    return requests.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_v3_commands_work_with_the_vehicle_token(fleet, emulator_url):
    token, cars = fleet
    car = smartcar.Vehicle(cars["BEV"], token)

    unlocked = command(emulator_url, cars["BEV"], "security/unlock", token)

    assert unlocked.status_code == 200
    assert unlocked.json()["data"]["attributes"]["commandType"] == "security-unlock"
    assert car.get_signal("closure-islocked")["body"]["attributes"]["body"] == {"value": False}
    assert command(emulator_url, cars["BEV"], "security/lock", token).status_code == 200
    assert car.lock_status().is_locked is True


def test_v3_charge_commands_follow_test_mode_and_the_plug(fleet, emulator_url, control):
    token, cars = fleet
    car = smartcar.Vehicle(cars["BEV"], token)

    assert command(emulator_url, cars["BEV"], "charge/start", token).status_code == 200
    assert car.charge().state == "NOT_CHARGING"
    control("PATCH", f"vehicles/{cars['BEV']}", json={"is_plugged_in": True, "state_of_charge": 0.5})
    assert command(emulator_url, cars["BEV"], "charge/start", token).json()["data"]["attributes"]["status"] == {
        "value": "SUCCESS"
    }
    assert car.charge().state == "CHARGING"
    assert command(emulator_url, cars["BEV"], "charge/stop", token).status_code == 200
    assert car.charge().state == "NOT_CHARGING"


def test_v3_charging_a_petrol_car_is_not_capable(fleet, emulator_url):
    token, cars = fleet

    response = command(emulator_url, cars["ICE"], "charge/start", token)

    assert (response.status_code, response.json()["code"]) == (501, "VEHICLE_NOT_CAPABLE")


def test_v3_commands_need_the_permission_and_an_awake_car(connected, emulator_url):
    reader = connected("ivan", ["read_vehicle_info"]).access_token
    sleeper = connected("sleepy", ALL_SCOPES).access_token
    sleeping_car = smartcar.get_vehicles(sleeper).vehicles[0]

    refused = command(emulator_url, smartcar.get_vehicles(reader).vehicles[0], "security/lock", reader)
    asleep = command(emulator_url, sleeping_car, "security/lock", sleeper)

    assert (refused.status_code, refused.json()["type"]) == (403, "PERMISSION")
    assert (asleep.status_code, asleep.json()["code"]) == (409, "ASLEEP")


def test_an_unknown_command_is_resource_not_found(fleet, emulator_url):
    token, cars = fleet

    response = command(emulator_url, cars["BEV"], "horn/honk", token)

    assert (response.status_code, response.json()["type"]) == (404, "RESOURCE_NOT_FOUND")
