"""Refresh Smartcar tokens now, synchronously, through the same code path as the beat's tasks."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from vehicles.fields import TokenDecryptionError
from vehicles.models import SmartcarConnection
from vehicles.services import tokens
from vehicles.smartcar_client import SmartcarError


class Command(BaseCommand):
    help = "Refresh the tokens of one connection, or of every connection that is due, right now."

    def add_arguments(self, parser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--connection", type=int, metavar="ID", help="refresh this connection if it is due")
        target.add_argument("--all-due", action="store_true", help="refresh every ACTIVE connection that is due")
        parser.add_argument("--force", action="store_true", help="with --connection: refresh even if not due")

    def handle(self, *args, connection: int | None, all_due: bool, force: bool, **options) -> None:
        if force and connection is None:
            raise CommandError("--force goes with --connection.")
        ids = [connection] if connection is not None else tokens.due_connection_ids()
        counts = {"refreshed": 0, "not due": 0, "failed": 0}
        if connection is not None and not SmartcarConnection.objects.filter(pk=connection).exists():
            raise CommandError(f"No connection with id {connection}.")
        for connection_id in ids:
            try:
                refreshed = tokens.refresh_if_due(connection_id=connection_id, force=force)
            except (SmartcarError, TokenDecryptionError) as exc:
                counts["failed"] += 1
                self.stderr.write(f"connection {connection_id}: {type(exc).__name__}: {exc}")
                continue
            counts["refreshed" if refreshed else "not due"] += 1
        self.stdout.write(", ".join(f"{count} {what}" for what, count in counts.items()))
        if counts["failed"]:
            raise CommandError(f"{counts['failed']} refresh(es) failed.")
