"""Account flows that do more than one thing."""

from __future__ import annotations

import logging

from django.db import transaction

from accounts.models import User

logger = logging.getLogger(__name__)


def delete_account(*, user: User) -> None:
    """Delete the user and everything they own."""
    user_id = user.pk
    with transaction.atomic():
        user.delete()
    logger.info("account deleted user_id=%s", user_id)
