"""The emulator's WSGI application with BENCH_TOKEN_DELAY_MS of latency added to the token endpoint only, as the
network and a real token endpoint add it; the emulator's own faults never touch that endpoint."""

from __future__ import annotations

import os
import time

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

DELAYED_PATH = "/emulator/auth/oauth/token"
DELAY_SECONDS = int(os.environ.get("BENCH_TOKEN_DELAY_MS", "0")) / 1000

django_application = get_wsgi_application()


def application(environ, start_response):
    if DELAY_SECONDS and environ.get("PATH_INFO") == DELAYED_PATH:
        time.sleep(DELAY_SECONDS)
    return django_application(environ, start_response)
