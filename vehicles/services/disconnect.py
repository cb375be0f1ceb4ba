"""Disconnect: revoke this application's access at Smartcar, then forget the vehicle (and its tokens with the last
one); a car another account here still holds is only forgotten."""

from __future__ import annotations

import enum
import logging

from django.conf import settings
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from accounts.models import User
from vehicles import smartcar_client
from vehicles.models import SmartcarConnection, Vehicle
from vehicles.services import webhooks
from vehicles.services.tokens import get_access_token
from vehicles.smartcar_client import AccessTokenRejected, ReauthRequired, SmartcarError

logger = logging.getLogger(__name__)


class DisconnectFailed(Exception):
    """Smartcar could not revoke access; nothing was removed here."""


class Outcome(enum.Enum):
    """What a disconnect did at Smartcar."""

    REVOKED = "revoked"
    # Another active connection here holds the same car through the same access: revoking would cut it off too.
    KEPT_AT_SMARTCAR = "kept"


def shared_with_another_account(vehicle: Vehicle) -> bool:
    """Whether revoking this car at Smartcar would also cut off another active connection here. With the vehicle's own
    tokens, Smartcar revokes the application's access to the car itself, whoever connected it; with API
    Authentication it removes one Smartcar user's connection to the car, so only a connection of that same Smartcar
    user shares it."""
    others = Vehicle.objects.filter(
        smartcar_vehicle_id=vehicle.smartcar_vehicle_id, connection__status=SmartcarConnection.Status.ACTIVE
    ).exclude(connection=vehicle.connection)
    if vehicle.connection.api_user_id:
        others = others.filter(connection__smartcar_user_id=vehicle.connection.smartcar_user_id)
    return others.exists()


@sensitive_variables()
def disconnect_vehicle(*, vehicle: Vehicle) -> Outcome:
    """Revoke this application's access to the vehicle at Smartcar, then forget it (and its tokens if it was the
    connection's last vehicle). If Smartcar cannot be reached, nothing changes here. A car another account here
    still holds is forgotten here and left alone at Smartcar."""
    connection = vehicle.connection
    if shared_with_another_account(vehicle):
        outcome = Outcome.KEPT_AT_SMARTCAR
    else:
        _revoke(vehicle)
        webhooks.unsubscribe(vehicle=vehicle)
        outcome = Outcome.REVOKED
    with transaction.atomic():
        vehicle.delete()
        if not connection.vehicles.exists():
            connection.delete()
    logger.info(
        "disconnected vehicle owner_id=%s connection_id=%s outcome=%s",
        vehicle.owner_id,
        connection.pk,
        outcome.value,
    )
    return outcome


@sensitive_variables()
def _revoke(vehicle: Vehicle) -> None:
    connection = vehicle.connection
    try:
        with smartcar_client.time_budget(settings.SMARTCAR_WEB_TIME_BUDGET):
            access_token = get_access_token(connection=connection)
            if connection.api_user_id:
                # API Authentication: the application removes that person's connection to the car.
                smartcar_client.remove_connection(
                    access_token=access_token, user_id=connection.api_user_id, vehicle_id=vehicle.smartcar_vehicle_id
                )
            else:
                smartcar_client.disconnect_vehicle(access_token=access_token, vehicle_id=vehicle.smartcar_vehicle_id)
    except (ReauthRequired, AccessTokenRejected):
        # Smartcar no longer honours this grant: there is nothing left to revoke.
        logger.info("disconnect: grant already dead connection_id=%s vehicle_id=%s", connection.pk, vehicle.pk)
    except SmartcarError as exc:
        raise DisconnectFailed(exc.user_message) from exc


def disconnect_connection(*, connection: SmartcarConnection) -> list[Outcome]:
    """Disconnect every vehicle of one connection, then forget its tokens; stops at the first vehicle Smartcar could
    not revoke (the vehicles already revoked stay removed). What was done for each vehicle."""
    outcomes = [disconnect_vehicle(vehicle=vehicle) for vehicle in connection.vehicles.select_related("connection")]
    # A connection whose vehicles were all removed holds tokens for nothing.
    SmartcarConnection.objects.filter(pk=connection.pk).delete()
    return outcomes


def disconnect_everything(*, user: User) -> list[Outcome]:
    """Disconnect every connection of the user; stops at the first vehicle Smartcar could not revoke. What was done
    for each vehicle."""
    outcomes = []
    for connection in SmartcarConnection.objects.filter(owner=user):
        outcomes += disconnect_connection(connection=connection)
    return outcomes
