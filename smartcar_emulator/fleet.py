"""Deterministic fleets: the same username always owns the same cars, derived from a hash of the name."""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from smartcar_emulator.models import EmulatedVehicle, EmulatorUser, Powertrain
from smartcar_emulator.routers import database_alias

NAMESPACE = uuid.UUID("7d3f4a52-2f0c-4a8e-9d0e-5c2b1e6f9a10")

# Usernames (the part before any "@", case-insensitive) that make Connect or the cars behave in a special way.
NO_VEHICLES = "no_vehicles"
VEHICLE_INCOMPATIBLE = "vehicle_incompatible"
SLEEPY = "sleepy"
BIG_FLEET = "big_fleet"
SPECIAL_USERNAMES = {
    NO_VEHICLES: "Connect ends with error=no_vehicles.",
    VEHICLE_INCOMPATIBLE: "Connect ends with error=vehicle_incompatible (with the car's vin, make, model, year).",
    SLEEPY: "One EV and one fuel car, both asleep: v2 data and commands answer 409 VEHICLE_STATE:ASLEEP; v3 signals "
    "carry that error each.",
    BIG_FLEET: "Twelve cars, to exercise paging.",
}


@dataclass(frozen=True)
class CarModel:
    make: str
    model: str
    year: int
    powertrain: str
    battery_kwh: float | None = None
    electric_range_km: float | None = None
    tank_litres: float | None = None
    fuel_range_km: float | None = None
    # What only some models have, for v3 signals that other cars answer with COMPATIBILITY:VEHICLE_NOT_CAPABLE.
    features: frozenset[str] = frozenset()


SUNROOF = frozenset({"sunroof"})
CATALOG = (
    CarModel(
        "TESLA",
        "Model 3",
        2022,
        Powertrain.BEV,
        battery_kwh=57.5,
        electric_range_km=438,
        features=frozenset({"front_trunk"}),
    ),
    CarModel("NISSAN", "LEAF", 2021, Powertrain.BEV, battery_kwh=40, electric_range_km=240),
    CarModel("VOLKSWAGEN", "ID.4", 2023, Powertrain.BEV, battery_kwh=77, electric_range_km=443),
    CarModel("CHEVROLET", "Bolt EV", 2022, Powertrain.BEV, battery_kwh=65, electric_range_km=417),
    CarModel("TOYOTA", "Camry", 2020, Powertrain.ICE, tank_litres=60, fuel_range_km=900, features=SUNROOF),
    CarModel("FORD", "F-150", 2021, Powertrain.ICE, tank_litres=87, fuel_range_km=800),
    CarModel("HONDA", "Civic", 2019, Powertrain.ICE, tank_litres=47, fuel_range_km=700, features=SUNROOF),
    CarModel(
        "BMW",
        "330e",
        2022,
        Powertrain.PHEV,
        battery_kwh=12,
        electric_range_km=55,
        tank_litres=40,
        fuel_range_km=600,
        features=SUNROOF,
    ),
    CarModel(
        "TOYOTA",
        "RAV4 Prime",
        2023,
        Powertrain.PHEV,
        battery_kwh=18.1,
        electric_range_km=68,
        tank_litres=55,
        fuel_range_km=900,
        features=SUNROOF,
    ),
)
BY_MODEL = {(car.make, car.model): car for car in CATALOG}
MAKES = sorted({car.make for car in CATALOG})
ELECTRIC = [car for car in CATALOG if car.powertrain == Powertrain.BEV]
WITH_TANK = [car for car in CATALOG if car.powertrain != Powertrain.BEV]
# Cities the cars are parked in (latitude, longitude).
PLACES = ((37.7749, -122.4194), (40.7128, -74.0060), (52.5200, 13.4050), (48.8566, 2.3522), (43.6532, -79.3832))
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def has_feature(vehicle: EmulatedVehicle, feature: str) -> bool:
    model = BY_MODEL.get((vehicle.make, vehicle.model))
    return model is not None and feature in model.features


def special_kind(username: str) -> str | None:
    local = username.split("@", 1)[0].strip().lower()
    return local if local in SPECIAL_USERNAMES else None


def _rng(*parts: str) -> random.Random:
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    # Not for security: a seeded generator makes the fleet reproducible.
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311


def _pick_models(username: str) -> list[CarModel]:
    kind = special_kind(username)
    rng = _rng("fleet", username.lower())
    if kind == SLEEPY:
        return [rng.choice(ELECTRIC), rng.choice(WITH_TANK)]
    if kind == BIG_FLEET:
        return [CATALOG[i % len(CATALOG)] for i in range(12)]
    count = rng.randint(1, 3)
    # Mix the kinds: the first car is electric, the second has a tank, the third is anything.
    picks = [rng.choice(ELECTRIC), rng.choice(WITH_TANK), rng.choice(CATALOG)][:count]
    rng.shuffle(picks)
    return picks


def _vin(rng: random.Random) -> str:
    return "".join(rng.choice(VIN_CHARS) for _ in range(17))


@transaction.atomic(using=database_alias())
def user_with_fleet(*, username: str, now: datetime) -> EmulatorUser:
    """The account for this username, with its cars created the first time it logs in."""
    key = username.strip().lower()
    user, created = EmulatorUser.objects.get_or_create(
        username=key, defaults={"smartcar_id": uuid.uuid5(NAMESPACE, f"user:{key}")}
    )
    if not created:
        return user
    if special_kind(key) == NO_VEHICLES:
        return user
    asleep = special_kind(key) == SLEEPY
    for position, car in enumerate(_pick_models(key)):
        rng = _rng("car", key, str(position))
        latitude, longitude = rng.choice(PLACES)
        EmulatedVehicle.objects.create(
            owner=user,
            vehicle_id=uuid.uuid5(NAMESPACE, f"vehicle:{key}:{position}"),
            position=position,
            vin=_vin(rng),
            make=car.make,
            model=car.model,
            year=car.year,
            powertrain=car.powertrain,
            battery_capacity_kwh=car.battery_kwh,
            electric_range_km=car.electric_range_km,
            tank_litres=car.tank_litres,
            fuel_range_km=car.fuel_range_km,
            odometer_km=round(rng.uniform(3_000, 90_000), 1),
            state_of_charge=round(rng.uniform(0.35, 0.9), 2) if car.battery_kwh else None,
            fuel_level=round(rng.uniform(0.3, 0.95), 2) if car.tank_litres else None,
            oil_life=round(rng.uniform(0.3, 0.95), 2) if car.tank_litres else None,
            latitude=latitude + rng.uniform(-0.05, 0.05),
            longitude=longitude + rng.uniform(-0.05, 0.05),
            tire_pressures_kpa=[round(rng.uniform(225, 250), 1) for _ in range(4)],
            is_locked=True,
            is_plugged_in=False,
            is_charging=False,
            is_asleep=asleep,
            state_updated_at=now,
        )
    return user
