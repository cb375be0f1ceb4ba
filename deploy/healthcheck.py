"""The containers' health checks; exit 0 only when healthy.

`python deploy/healthcheck.py` (the image's HEALTHCHECK, for web): GET /healthz from the web process in this
container, with Python's standard library only, as the slim base image has no curl. It sends a Host header from
DJANGO_ALLOWED_HOSTS, since Django answers 400 to any other host.

`python deploy/healthcheck.py beat` (beat's, in docker-compose.yml): beat's heartbeat must be younger than
BEAT_HEARTBEAT_MAX_AGE_SECONDS, the check /healthz/beat runs. Beat serves no HTTP, so it runs here, with the settings.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path


def allowed_host() -> str:
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(","):
        host = host.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def web() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"
    request = urllib.request.Request(url, headers={"Host": allowed_host()})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - a fixed http:// URL
            status, outcome = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, outcome = error.code, error.read().decode()
    except OSError as error:
        status, outcome = None, f"unreachable: {error}"
    # Docker keeps the output of the last checks: `docker inspect` shows why a container is unhealthy.
    print(status, outcome)  # noqa: T201
    return 0 if status == 200 else 1


def beat() -> int:
    # The project folder, not this script's, is where the settings are imported from.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    from config.health import check_beat

    check = check_beat()
    print("ok" if check.ok else check.error, check.details)  # noqa: T201
    return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(beat() if sys.argv[1:] == ["beat"] else web())
