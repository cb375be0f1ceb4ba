"""EncryptedTextField: text kept as Fernet ciphertext under TOKEN_ENCRYPTION_KEYS, never queryable."""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import FieldError
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver


class TokenDecryptionError(Exception):
    """A stored value could not be decrypted with any configured key: the key list is wrong or the data is."""


@cache
def keyring() -> MultiFernet:
    """The configured keys: the first encrypts, every one decrypts (so that keys can be rotated)."""
    keys = settings.TOKEN_ENCRYPTION_KEYS
    if not keys:
        raise ValueError("TOKEN_ENCRYPTION_KEYS is empty.")
    return MultiFernet([Fernet(key) for key in keys])


@receiver(setting_changed)
def _forget_keys(*, setting: str, **kwargs) -> None:
    if setting == "TOKEN_ENCRYPTION_KEYS":
        keyring.cache_clear()


def encrypt(plaintext: str) -> str:
    return keyring().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return keyring().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        # Never include the value: even ciphertext has no business in logs.
        raise TokenDecryptionError(
            "A stored token cannot be decrypted with any key in TOKEN_ENCRYPTION_KEYS."
        ) from None


class EncryptedTextField(models.TextField):
    """A TextField whose database value is ciphertext; Python code only ever sees the plaintext."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return None if value is None else encrypt(value)

    def get_lookup(self, lookup_name):
        # Fernet ciphertext is randomised, so no comparison on it can mean anything; refuse rather than mislead.
        raise FieldError(f"{self.model.__name__}.{self.name} is encrypted and cannot be used in a lookup.")

    def get_transform(self, lookup_name):
        raise FieldError(f"{self.model.__name__}.{self.name} is encrypted and cannot be used in a lookup.")
