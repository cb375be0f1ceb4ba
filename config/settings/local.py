"""The quick start on a laptop: debug on, SQLite, filesystem broker, console email."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import (
    BASE_DIR,
    DATABASES,
    INSTALLED_APPS,
    SMARTCAR_AUTH,
    SMARTCAR_EMULATOR_API_CLIENT_ID,
    SMARTCAR_EMULATOR_API_CLIENT_SECRETS,
    SMARTCAR_EMULATOR_CLIENT_ID,
    SMARTCAR_EMULATOR_CLIENT_SECRET,
    SMARTCAR_EMULATOR_MANAGEMENT_TOKEN,
    SMARTCAR_EMULATOR_WEBHOOK_ID,
    database_config,
    env,
)

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# A fixed key is fine for a laptop; production refuses to start without its own.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="local-only-insecure-key-do-not-use-in-production")

# A fixed key is fine for a laptop's fake tokens; production requires its own.
TOKEN_ENCRYPTION_KEYS = env.list("TOKEN_ENCRYPTION_KEYS", default=["bG9jYWwtb25seS10b2tlbi1rZXktMzJieXRlcyEhISE="])

# Connect, tokens and the vehicle API come from the built-in emulator, so no Smartcar account is needed.
SMARTCAR_EMULATOR = env.bool("SMARTCAR_EMULATOR", default=True)
if SMARTCAR_EMULATOR:
    if "smartcar_emulator" not in INSTALLED_APPS:
        INSTALLED_APPS.append("smartcar_emulator")
    # Its own database, as a separate service would have: see smartcar_emulator/routers.py for why.
    DATABASES["emulator"] = database_config(
        env.str("SMARTCAR_EMULATOR_DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'emulator.sqlite3'}")
    )
    DATABASE_ROUTERS = ["smartcar_emulator.routers.EmulatorRouter"]
_emulator = "http://localhost:8000/emulator"
# Everything the emulator can serve, so that the quick start shows a car's data and commands.
SMARTCAR_SCOPES = env.list(
    "SMARTCAR_SCOPES",
    default=[
        "read_vehicle_info",
        "read_vin",
        "read_odometer",
        "read_location",
        "read_battery",
        "read_charge",
        "read_fuel",
        "read_tires",
        "read_engine_oil",
        "read_security",
        "control_security",
        "control_charge",
    ],
)
SMARTCAR_CLIENT_ID = env.str("SMARTCAR_CLIENT_ID", default=SMARTCAR_EMULATOR_CLIENT_ID)
SMARTCAR_CLIENT_SECRET = env.str("SMARTCAR_CLIENT_SECRET", default=SMARTCAR_EMULATOR_CLIENT_SECRET)
SMARTCAR_CONNECT_ORIGIN = env.str("SMARTCAR_CONNECT_ORIGIN", default=f"{_emulator}/connect")
SMARTCAR_AUTH_ORIGIN = env.str("SMARTCAR_AUTH_ORIGIN", default=f"{_emulator}/auth/oauth/token")
SMARTCAR_API_ORIGIN = env.str("SMARTCAR_API_ORIGIN", default=f"{_emulator}/api")
SMARTCAR_VEHICLE_API_V3_ORIGIN = env.str("SMARTCAR_VEHICLE_API_V3_ORIGIN", default=f"{_emulator}/vehicle-api")
# SMARTCAR_AUTH=application switches the quick start to API Authentication against the emulator's client.
SMARTCAR_API_CLIENT_ID = env.str("SMARTCAR_API_CLIENT_ID", default=SMARTCAR_EMULATOR_API_CLIENT_ID)
SMARTCAR_API_CLIENT_SECRET = env.str("SMARTCAR_API_CLIENT_SECRET", default=SMARTCAR_EMULATOR_API_CLIENT_SECRETS[0])
SMARTCAR_IAM_TOKEN_URL = env.str("SMARTCAR_IAM_TOKEN_URL", default=f"{_emulator}/iam/oauth2/token")
# The emulator's webhook delivers to this application out of the box (docs/emulator.md): its callback is the receiver
# here, both sides know the same management token, and connected cars are subscribed to it (by the application, or
# with API Authentication by the webhook's auto-enrollment, as Smartcar's dashboard offers).
SMARTCAR_EMULATOR_WEBHOOK_URL = env.str(
    "SMARTCAR_EMULATOR_WEBHOOK_URL", default="http://localhost:8000/webhooks/smartcar/"
)
SMARTCAR_EMULATOR_WEBHOOK_AUTO_ENROLL = env.bool(
    "SMARTCAR_EMULATOR_WEBHOOK_AUTO_ENROLL", default=SMARTCAR_AUTH == "application"
)
SMARTCAR_MANAGEMENT_TOKENS = env.list("SMARTCAR_MANAGEMENT_TOKENS", default=[SMARTCAR_EMULATOR_MANAGEMENT_TOKEN])
SMARTCAR_WEBHOOK_ID = env.str("SMARTCAR_WEBHOOK_ID", default=SMARTCAR_EMULATOR_WEBHOOK_ID)
