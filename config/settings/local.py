"""The quick start on a laptop: debug on, SQLite, filesystem broker, console email."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# A fixed key is fine for a laptop; production refuses to start without its own.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="local-only-insecure-key-do-not-use-in-production")
