"""factory_boy factories for the suite's models."""

from __future__ import annotations

import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import User
from vehicles.models import SmartcarConnection, Vehicle

PASSWORD = "correct horse battery staple"


def smartcar_id() -> str:
    """Smartcar's ids and tokens are UUIDs."""
    return str(uuid.uuid4())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    password = factory.django.Password(PASSWORD)


class SmartcarConnectionFactory(factory.django.DjangoModelFactory):
    """A healthy connection: access token good for two hours, refresh token issued a minute ago."""

    class Meta:
        model = SmartcarConnection

    owner = factory.SubFactory(UserFactory)
    smartcar_user_id = factory.LazyFunction(smartcar_id)
    access_token = factory.LazyFunction(smartcar_id)
    refresh_token = factory.LazyFunction(smartcar_id)
    access_expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=2))
    refresh_expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=60))
    scopes = factory.LazyFunction(lambda: ["read_vehicle_info"])


class VehicleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vehicle

    connection = factory.SubFactory(SmartcarConnectionFactory)
    owner = factory.SelfAttribute("connection.owner")
    smartcar_vehicle_id = factory.LazyFunction(smartcar_id)
    make = factory.Iterator(["TESLA", "BMW", "FORD", "TOYOTA"])
    model = factory.Iterator(["Model 3", "i3", "Mustang Mach-E", "bZ4X"])
    year = factory.Iterator([2019, 2021, 2023])
