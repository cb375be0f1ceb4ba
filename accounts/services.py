"""Account flows that do more than one thing."""

from __future__ import annotations

import logging

from django.db import transaction

from accounts.models import User
from vehicles.services.disconnect import disconnect_everything

logger = logging.getLogger(__name__)


def delete_account(*, user: User) -> None:
    """Revoke the user's Smartcar access, then delete the user and everything they own.

    Raises vehicles.services.DisconnectFailed, with nothing deleted, when Smartcar cannot revoke a car: deleting
    the tokens first would leave a grant at Smartcar that nobody could revoke any more.
    """
    disconnect_everything(user=user)
    user_id = user.pk
    with transaction.atomic():
        user.delete()
    logger.info("account deleted user_id=%s", user_id)
