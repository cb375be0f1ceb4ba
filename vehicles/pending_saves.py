"""New tokens that Smartcar issued but the database could not take: kept in this process and saved once it is back.

Smartcar rotates the refresh token on every refresh, so a pair it has answered with exists nowhere else; dropping it
would cost the person their connection. The pair is kept in memory only (never logged, never queued), by one
background thread per process, for up to PENDING_SAVE_LIMIT: a refresh token lives 60 days, so a late save loses
nothing, while a database outage longer than that is the operator's emergency, logged as such.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import DatabaseError, close_old_connections, transaction
from django.db import connection as db_connection
from django.views.decorators.debug import sensitive_variables

from vehicles.models import SmartcarConnection
from vehicles.smartcar_client import Tokens

logger = logging.getLogger(__name__)

PENDING_SAVE_LIMIT = timedelta(minutes=10)
# Pauses between tries grow from the first to the last.
FIRST_PAUSE_SECONDS = 0.5
LAST_PAUSE_SECONDS = 5.0


@dataclass
class PendingSave:
    connection_id: int
    # The token version the refresh started from: the save applies only if nobody has saved since.
    version: int
    tokens: Tokens = field(repr=False)
    kept_at: float = field(default_factory=time.monotonic)


_lock = threading.Lock()
_pending: list[PendingSave] = []
_thread: threading.Thread | None = None
_thread_pid: int | None = None


def keep(*, connection_id: int, version: int, tokens: Tokens) -> None:
    """Hold `tokens` for this connection and save them as soon as the database takes them."""
    global _thread, _thread_pid
    logger.error(
        "refresh answered but not saved connection_id=%s: keeping the new tokens in memory and retrying the save "
        "for up to %d minutes",
        connection_id,
        PENDING_SAVE_LIMIT.total_seconds() // 60,
    )
    with _lock:
        _pending.append(PendingSave(connection_id=connection_id, version=version, tokens=tokens))
        # A forked process (a worker's pool child) does not inherit its parent's thread.
        if _thread is None or _thread_pid != os.getpid() or not _thread.is_alive():
            _thread = threading.Thread(target=_save_until_done, name="pending-token-saves", daemon=False)
            _thread_pid = os.getpid()
            _thread.start()


def pending_count() -> int:
    with _lock:
        return len(_pending)


def _save_until_done() -> None:
    pause = FIRST_PAUSE_SECONDS
    try:
        while True:
            with _lock:
                batch = list(_pending)
            if not batch:
                return
            for item in batch:
                if _try_save(item) or time.monotonic() - item.kept_at > PENDING_SAVE_LIMIT.total_seconds():
                    with _lock:
                        _pending.remove(item)
            with _lock:
                if not _pending:
                    return
            time.sleep(pause)
            pause = min(pause * 2, LAST_PAUSE_SECONDS)
    finally:
        db_connection.close()


@sensitive_variables()
def _try_save(item: PendingSave) -> bool:
    """Whether `item` is done with: saved, or no longer wanted. False while the database refuses it, and when the
    limit is reached, after saying that this connection is lost."""
    close_old_connections()
    try:
        with transaction.atomic():
            connection = SmartcarConnection.objects.select_for_update(no_key=True).filter(pk=item.connection_id).first()
            if connection is None:
                logger.warning("kept tokens dropped connection_id=%s: the connection is gone", item.connection_id)
                return True
            if connection.token_version != item.version:
                # Saved since: a recovery inside the grace, or a reconnect. Their pair is the one in use.
                logger.info("kept tokens not needed connection_id=%s: saved since", item.connection_id)
                return True
            # A recovery that came too late may have marked it as needing reconnection: this pair says otherwise.
            connection.set_tokens(
                access_token=item.tokens.access_token,
                refresh_token=item.tokens.refresh_token,
                access_expires_at=item.tokens.access_expires_at,
                refresh_expires_at=item.tokens.refresh_expires_at,
            )
            connection.save(update_fields=SmartcarConnection.TOKEN_FIELDS)
    except DatabaseError as exc:
        db_connection.close()
        if time.monotonic() - item.kept_at > PENDING_SAVE_LIMIT.total_seconds():
            logger.critical(
                "kept tokens LOST connection_id=%s: the database refused them for %d minutes; the person must "
                "reconnect",
                item.connection_id,
                PENDING_SAVE_LIMIT.total_seconds() // 60,
            )
        else:
            logger.warning("kept tokens still not saved connection_id=%s: %s", item.connection_id, type(exc).__name__)
        return False
    logger.warning("kept tokens saved connection_id=%s token_version=%s", item.connection_id, connection.token_version)
    return True
