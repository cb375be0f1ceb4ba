"""Account flows that do more than one thing."""

from __future__ import annotations

import logging

from django.db import transaction

from accounts.models import User
from vehicles.services.disconnect import Outcome, disconnect_everything

logger = logging.getLogger(__name__)


def delete_account(*, user: User) -> list[Outcome]:
    """Revoke the user's Smartcar access, then delete the user and everything they own; what was done at Smartcar for
    each car (a car another account here still holds is left connected there).

    Raises vehicles.services.DisconnectFailed, with nothing deleted, when Smartcar cannot revoke a car: deleting
    the tokens first would leave a grant at Smartcar that nobody could revoke any more.
    """
    outcomes = disconnect_everything(user=user)
    user_id = user.pk
    with transaction.atomic():
        user.delete()
    logger.info("account deleted user_id=%s", user_id)
    return outcomes
