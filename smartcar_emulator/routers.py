"""Keeps the emulator's tables in a database of their own when settings define an `emulator` alias.

In the quick start everything shares one process and SQLite: the application holds SQLite's single write lock while
it waits on the token endpoint, and the emulator answering that request must write too. With its own file, as a
separate service would have, neither waits for the other.
"""

from __future__ import annotations

from django.conf import settings

APP_LABEL = "smartcar_emulator"


def database_alias() -> str:
    return "emulator" if "emulator" in settings.DATABASES else "default"


class EmulatorRouter:
    def db_for_read(self, model, **hints):
        return database_alias() if model._meta.app_label == APP_LABEL else None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        if APP_LABEL in (obj1._meta.app_label, obj2._meta.app_label):
            return obj1._meta.app_label == obj2._meta.app_label
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if "emulator" not in settings.DATABASES:
            return None
        return (app_label == APP_LABEL) == (db == "emulator")
