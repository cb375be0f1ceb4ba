"""The Connect-walking fixtures of the vehicles suite, for the hardening tests too."""

from __future__ import annotations

from tests.vehicles.conftest import alice_connection, connect_car, smartcar

__all__ = ["alice_connection", "connect_car", "smartcar"]
