"""Commands: lock, unlock, start and stop charging, each recorded with what came of it."""

from __future__ import annotations

import contextlib
import logging

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from accounts.models import User
from vehicles import smartcar_client
from vehicles.models import Vehicle, VehicleCommand
from vehicles.services.tokens import with_access_token
from vehicles.services.vehicle_data import (
    SyncNotQueued,
    VehicleBusy,
    check_retry_window,
    failure_message,
    request_sync,
)
from vehicles.smartcar_client import SmartcarError

logger = logging.getLogger(__name__)

COMMAND_PERMISSIONS = {
    VehicleCommand.Action.LOCK: "control_security",
    VehicleCommand.Action.UNLOCK: "control_security",
    VehicleCommand.Action.START_CHARGE: "control_charge",
    VehicleCommand.Action.STOP_CHARGE: "control_charge",
}


@sensitive_variables()
def send_command(*, vehicle: Vehicle, user: User, action: str) -> VehicleCommand:
    """Send a command to the car and record what came of it (the record is returned either way)."""
    permission = COMMAND_PERMISSIONS[VehicleCommand.Action(action)]
    outcome, message = VehicleCommand.Outcome.FAILED, ""
    if permission not in vehicle.connection.scopes:
        message = smartcar_client.PermissionMissing.default_user_message
    else:
        try:
            check_retry_window(vehicle)
            with smartcar_client.time_budget(settings.SMARTCAR_WEB_TIME_BUDGET):
                answer = with_access_token(
                    vehicle.connection,
                    lambda token: smartcar_client.send_command(
                        access_token=token,
                        vehicle_id=vehicle.smartcar_vehicle_id,
                        action=action,
                        user_id=vehicle.connection.api_user_id,
                    ),
                )
        except (VehicleBusy, SmartcarError) as exc:
            message = failure_message(vehicle=vehicle, error=exc, reconnect_to="send commands")
            if isinstance(exc, smartcar_client.Transient) and exc.unknown_outcome:
                message = (
                    "Smartcar did not answer in time: the command may still reach your car. Check before retrying."
                )
        else:
            outcome, message = VehicleCommand.Outcome.SUCCEEDED, answer or "Done."
    command = VehicleCommand.objects.create(
        vehicle=vehicle, requested_by=user, action=action, outcome=outcome, message=message[:300]
    )
    logger.info("vehicle command vehicle_id=%s action=%s outcome=%s", vehicle.pk, action, outcome)
    if outcome == VehicleCommand.Outcome.SUCCEEDED:
        # Show the car's new state rather than the stale snapshot (one more call, asked for by the person).
        with contextlib.suppress(VehicleBusy, SyncNotQueued):
            request_sync(vehicle=vehicle)
    return command
