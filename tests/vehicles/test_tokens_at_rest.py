from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import connection as db

from vehicles.fields import TokenDecryptionError
from vehicles.models import SmartcarConnection

pytestmark = pytest.mark.django_db(transaction=True)

NEW_KEY = Fernet.generate_key().decode()


def raw_tokens(pk: int) -> tuple[str, str]:
    with db.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM vehicles_smartcarconnection WHERE id = %s", [pk])
        return cursor.fetchone()


def every_text_value_outside_the_emulator() -> str:
    """All text in every table except the emulator's own, as one string."""
    chunks = []
    with db.cursor() as cursor:
        for table in db.introspection.table_names():
            if table.startswith("smartcar_emulator_"):
                continue
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")  # noqa: S608 - names from introspection
            chunks.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(chunks)


def test_the_database_holds_only_ciphertext(alice_connection):
    access, refresh = alice_connection.access_token, alice_connection.refresh_token
    stored_access, stored_refresh = raw_tokens(alice_connection.pk)

    assert access not in stored_access
    assert refresh not in stored_refresh
    everything = every_text_value_outside_the_emulator()
    assert access not in everything
    assert refresh not in everything
    # And what is stored really is the tokens, encrypted under the configured key.
    from django.conf import settings

    fernet = Fernet(settings.TOKEN_ENCRYPTION_KEYS[0])
    assert fernet.decrypt(stored_access.encode()).decode() == access
    assert fernet.decrypt(stored_refresh.encode()).decode() == refresh


def test_repr_and_str_never_show_a_token(alice_connection):
    for text in (repr(alice_connection), str(alice_connection)):
        assert alice_connection.access_token not in text
        assert alice_connection.refresh_token not in text


def test_lookups_on_encrypted_fields_are_refused(alice_connection):
    with pytest.raises(FieldError, match="encrypted"):
        SmartcarConnection.objects.filter(access_token=alice_connection.access_token).exists()
    with pytest.raises(FieldError, match="encrypted"):
        SmartcarConnection.objects.filter(refresh_token__startswith="x").exists()


def test_a_wrong_key_fails_loudly_instead_of_returning_garbage(alice_connection, settings):
    settings.TOKEN_ENCRYPTION_KEYS = [NEW_KEY]

    with pytest.raises(TokenDecryptionError) as raised:
        SmartcarConnection.objects.get(pk=alice_connection.pk)
    assert NEW_KEY not in str(raised.value)


def test_key_rotation_keeps_every_token_readable(alice_connection, settings):
    old_key = settings.TOKEN_ENCRYPTION_KEYS[0]
    access, refresh = alice_connection.access_token, alice_connection.refresh_token
    before = raw_tokens(alice_connection.pk)

    settings.TOKEN_ENCRYPTION_KEYS = [NEW_KEY, old_key]
    call_command("rotate_token_keys", verbosity=0)
    settings.TOKEN_ENCRYPTION_KEYS = [NEW_KEY]

    after = raw_tokens(alice_connection.pk)
    assert after != before
    rotated = SmartcarConnection.objects.get(pk=alice_connection.pk)
    assert (rotated.access_token, rotated.refresh_token) == (access, refresh)
    assert rotated.token_version == alice_connection.token_version


def test_rotation_stops_with_a_clear_error_when_no_key_fits(alice_connection, settings):
    from django.core.management.base import CommandError

    settings.TOKEN_ENCRYPTION_KEYS = [NEW_KEY]

    with pytest.raises(CommandError, match=f"Connection {alice_connection.pk}: .*cannot be decrypted"):
        call_command("rotate_token_keys", verbosity=0)


@pytest.mark.parametrize(
    ("keys", "check_id"),
    [([], "vehicles.E001"), (["not-a-key"], "vehicles.E002"), ([NEW_KEY, "short"], "vehicles.E002")],
)
def test_missing_or_malformed_keys_fail_the_system_checks(settings, keys, check_id):
    settings.TOKEN_ENCRYPTION_KEYS = keys

    errors = [error for error in run_checks() if error.id.startswith("vehicles.")]

    assert [error.id for error in errors] == [check_id]
    assert all(key not in error.msg for error in errors for key in keys if key)


def test_configured_keys_pass_the_system_checks():
    assert [error for error in run_checks() if error.id.startswith("vehicles.")] == []


def test_the_vehicles_table_never_decrypts_a_token(alice_client, alice_connection, settings):
    # With a key that fits no token, any decryption would raise: the table and the home page must not need one.
    settings.TOKEN_ENCRYPTION_KEYS = [NEW_KEY]

    for url in ("/vehicles/", "/"):
        response = alice_client.get(url)
        assert response.status_code == 200
        assert alice_connection.vehicles.first().model in response.content.decode()
