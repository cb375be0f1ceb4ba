"""Re-encrypt every stored Smartcar token under the first key of TOKEN_ENCRYPTION_KEYS."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from vehicles.fields import TokenDecryptionError
from vehicles.models import SmartcarConnection


class Command(BaseCommand):
    help = (
        "Re-encrypt every Smartcar token under the first key of TOKEN_ENCRYPTION_KEYS. Rotate by putting the new "
        "key first (keeping the old one after it), deploying, running this, then removing the old key."
    )

    def handle(self, *args, **options) -> None:
        rotated = 0
        for pk in SmartcarConnection.objects.order_by("pk").values_list("pk", flat=True).iterator():
            # One row per transaction, under the same row lock as a refresh, so a concurrent refresh is never lost.
            with transaction.atomic():
                try:
                    # Loading decrypts with whichever key fits; saving encrypts with the first.
                    connection = SmartcarConnection.objects.select_for_update().filter(pk=pk).first()
                except TokenDecryptionError as exc:
                    raise CommandError(f"Connection {pk}: {exc} Nothing was changed for it.") from None
                if connection is None:
                    continue
                connection.save(update_fields=["access_token", "refresh_token"])
            rotated += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted the tokens of {rotated} connection(s)."))
