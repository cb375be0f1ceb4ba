"""The refresh's compiled statements read and write exactly what the ORM reads and writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.utils import NotSupportedError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import SmartcarConnectionFactory
from tests.helpers import in_threads
from vehicles import statements
from vehicles.fields import TokenDecryptionError
from vehicles.models import SmartcarConnection

pytestmark = pytest.mark.django_db(transaction=True)


def field_values(instance: SmartcarConnection) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in SmartcarConnection._meta.concrete_fields}


def test_the_locked_row_is_the_orms_instance_decrypted_and_decoded():
    stored = SmartcarConnectionFactory(scopes=["read_vehicle_info", "read_odometer"], last_error="Transient: 503")

    with transaction.atomic():
        locked = statements.select_for_update(SmartcarConnection, stored.pk, skip_locked=True)
        orm = SmartcarConnection.objects.select_for_update().get(pk=stored.pk)

    assert isinstance(locked, SmartcarConnection)
    assert field_values(locked) == field_values(orm)
    assert locked.scopes == ["read_vehicle_info", "read_odometer"]
    assert locked.access_token == stored.access_token
    assert locked.access_expires_at.tzinfo is not None
    assert locked._state.adding is False
    assert locked._state.db == "default"


def test_a_missing_row_is_none():
    with transaction.atomic():
        assert statements.select_for_update(SmartcarConnection, 2_000_000_000, skip_locked=False) is None


def test_the_statement_is_one_select_for_update_and_skip_locked_skips_a_held_row():
    stored = SmartcarConnectionFactory()
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        statements.select_for_update(SmartcarConnection, stored.pk, skip_locked=True)
    [select] = [query["sql"] for query in queries if query["sql"].startswith("SELECT")]
    assert select.endswith("FOR UPDATE SKIP LOCKED")

    seen: list[object] = []
    with transaction.atomic():
        statements.select_for_update(SmartcarConnection, stored.pk, skip_locked=False)

        def other_refresher() -> None:
            with transaction.atomic():
                seen.append(statements.select_for_update(SmartcarConnection, stored.pk, skip_locked=True))

        in_threads(other_refresher, 1)
    assert seen == [None]


def test_it_needs_a_transaction_as_select_for_update_does():
    stored = SmartcarConnectionFactory()
    with pytest.raises(transaction.TransactionManagementError):
        statements.select_for_update(SmartcarConnection, stored.pk, skip_locked=True)


def test_a_token_no_key_decrypts_fails_as_through_the_orm(settings):
    stored = SmartcarConnectionFactory()
    settings.TOKEN_ENCRYPTION_KEYS = ["bm90LXRoZS1rZXktdGhlLXRva2Vucy13ZXJlLWtlcHQ="]
    with pytest.raises(TokenDecryptionError), transaction.atomic():
        statements.select_for_update(SmartcarConnection, stored.pk, skip_locked=True)


def test_saving_fields_writes_what_save_with_update_fields_writes():
    ours, theirs = SmartcarConnectionFactory(), SmartcarConnectionFactory()
    moment = timezone.now() + timedelta(hours=2)
    names = ["access_token", "refresh_token", "access_expires_at", "token_version", "last_error_at", "updated_at"]
    for instance in (ours, theirs):
        instance.access_token, instance.refresh_token = "new-access", "new-refresh"
        instance.access_expires_at, instance.token_version, instance.last_error_at = moment, 7, None
        instance.status = SmartcarConnection.Status.REVOKED  # not named: must not be written
    before = timezone.now()

    statements.save_fields(ours, names)
    theirs.save(update_fields=names)

    ours_stored, theirs_stored = (SmartcarConnection.objects.get(pk=each.pk) for each in (ours, theirs))
    for stored in (ours_stored, theirs_stored):
        assert stored.access_token == "new-access"
        assert stored.refresh_token == "new-refresh"
        assert stored.access_expires_at == moment
        assert stored.token_version == 7
        assert stored.status == SmartcarConnection.Status.ACTIVE
        # auto_now, as save() sets it, on the instance too.
        assert stored.updated_at >= before
    assert ours.updated_at == ours_stored.updated_at
    # Encrypted at rest, as the ORM encrypts.
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM vehicles_smartcarconnection WHERE id = %s", [ours.pk])
        assert "new-access" not in cursor.fetchone()[0]


def test_an_unsupported_skip_locked_is_refused_like_the_orm(monkeypatch):
    stored = SmartcarConnectionFactory()
    monkeypatch.setattr(connection.features, "has_select_for_update_skip_locked", False)
    monkeypatch.setattr(statements._compiled, "lock", {}, raising=False)
    monkeypatch.setattr(statements._compiled, "compilers", {}, raising=False)
    with pytest.raises(NotSupportedError), transaction.atomic():
        statements.select_for_update(SmartcarConnection, stored.pk, skip_locked=True)
