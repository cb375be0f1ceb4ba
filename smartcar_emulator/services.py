"""The emulator's flows: grants, codes and tokens (per vehicle and per application); faults and rate limits; the log.
Webhooks have a module of their own (webhooks.py)."""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F

from smartcar_emulator import clock, webhooks
from smartcar_emulator.errors import ApiError
from smartcar_emulator.models import (
    AccessToken,
    ApplicationToken,
    AuthorizationCode,
    EmulatedVehicle,
    EmulatorUser,
    Fault,
    Grant,
    RateLimitBucket,
    RefreshToken,
    RequestLog,
)
from smartcar_emulator.routers import database_alias

CODE_LIFETIME = timedelta(minutes=10)
ACCESS_LIFETIME = timedelta(hours=2)
REFRESH_LIFETIME = timedelta(days=60)
APPLICATION_TOKEN_LIFETIME = timedelta(hours=1)
# Smartcar lets an application hold this many API client secrets at once, for rotation without downtime.
MAX_API_CLIENT_SECRETS = 3


class TokenError(Exception):
    """A token-endpoint rejection: the OAuth error and its description."""

    def __init__(self, error: str, description: str) -> None:
        self.error = error
        self.description = description
        super().__init__(error)


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hint(secret: str) -> str:
    """The first few characters: enough to tell tokens apart in the log and the admin, useless to an attacker."""
    return secret[:6]


@transaction.atomic(using=database_alias())
def issue_code(
    *, user: EmulatorUser, client_id: str, redirect_uri: str, scopes: list[str], vehicles: list[EmulatedVehicle]
) -> str:
    """Record Connect's approval as a grant, and return the code that trades it for its first tokens."""
    code = str(uuid.uuid4())
    issued_at = clock.now()
    grant = Grant.objects.create(user=user, client_id=client_id, scopes=scopes, created_at=issued_at)
    grant.vehicles.set(vehicles)
    webhooks.enroll(vehicles=vehicles)
    AuthorizationCode.objects.create(
        code_hash=digest(code),
        hint=hint(code),
        user=user,
        client_id=client_id,
        redirect_uri=redirect_uri,
        grant=grant,
        issued_at=issued_at,
        expires_at=issued_at + CODE_LIFETIME,
    )
    return code


def _issue_tokens(grant: Grant, now: datetime) -> IssuedTokens:
    access, refresh = str(uuid.uuid4()), str(uuid.uuid4())
    AccessToken.objects.create(
        token_hash=digest(access), hint=hint(access), grant=grant, issued_at=now, expires_at=now + ACCESS_LIFETIME
    )
    RefreshToken.objects.create(
        token_hash=digest(refresh), hint=hint(refresh), grant=grant, issued_at=now, expires_at=now + REFRESH_LIFETIME
    )
    return IssuedTokens(access, refresh, int(ACCESS_LIFETIME.total_seconds()))


def client_is_valid(client_id: str, client_secret: str) -> bool:
    return secrets.compare_digest(client_id, settings.SMARTCAR_EMULATOR_CLIENT_ID) and secrets.compare_digest(
        client_secret, settings.SMARTCAR_EMULATOR_CLIENT_SECRET
    )


def enabled_makes() -> list[str]:
    """The makes the application may connect; empty means all of them."""
    return [make.upper() for make in clock.knobs().enabled_makes]


@transaction.atomic(using=database_alias())
def exchange_code(*, client_id: str, code: str, redirect_uri: str | None) -> IssuedTokens:
    """Trade a code for its grant's first token pair: once, within ten minutes, with the redirect URI Connect used,
    for cars of makes the application is enabled for (the errors of SMARTCAR.md §2, in that order)."""
    now = clock.now()
    row = (
        AuthorizationCode.objects.select_for_update()
        .select_related("grant")
        .filter(code_hash=digest(code), client_id=client_id)
        .first()
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise TokenError("invalid_request", f"Invalid code: {code}.")
    if redirect_uri != row.redirect_uri:
        raise TokenError("invalid_grant", f"Unauthorized redirect_uri: {redirect_uri or ''}")
    allowed = enabled_makes()
    refused = sorted({car.make for car in row.grant.vehicles.all()} - set(allowed)) if allowed else []
    if refused:
        makes = ", ".join(refused)
        raise TokenError("unauthorized_client", f"Application not authorized to requested make(s): {makes}")
    row.used_at = now
    row.save(update_fields=["used_at"])
    return _issue_tokens(row.grant, now)


@transaction.atomic(using=database_alias())
def refresh(*, client_id: str, refresh_token: str) -> IssuedTokens:
    """Rotate: every refresh returns a new pair; the old refresh token still works for a grace after first use."""
    now = clock.now()
    row = (
        RefreshToken.objects.select_for_update()
        .select_related("grant")
        .filter(token_hash=digest(refresh_token), grant__client_id=client_id)
        .first()
    )
    if row is None:
        raise TokenError("invalid_grant", f"Invalid refresh_token: {refresh_token}.")
    grace = timedelta(seconds=settings.SMARTCAR_EMULATOR_REFRESH_GRACE_SECONDS)
    if (
        row.grant.revoked_at is not None
        or row.expires_at <= now
        or (row.first_used_at is not None and now - row.first_used_at > grace)
    ):
        raise TokenError("invalid_grant", "Invalid or expired refresh token.")
    if row.first_used_at is None:
        row.first_used_at = now
        row.save(update_fields=["first_used_at"])
    return _issue_tokens(row.grant, now)


def refresh_token_is_valid(refresh_token: str) -> bool:
    """Whether refresh() would accept this token now, without using it."""
    row = RefreshToken.objects.select_related("grant").filter(token_hash=digest(refresh_token)).first()
    now = clock.now()
    grace = timedelta(seconds=settings.SMARTCAR_EMULATOR_REFRESH_GRACE_SECONDS)
    return (
        row is not None
        and row.grant.revoked_at is None
        and row.expires_at > now
        and (row.first_used_at is None or now - row.first_used_at <= grace)
    )


def api_client_is_valid(client_id: str, client_secret: str) -> bool:
    """The API Authentication client: its id and any one of its secrets."""
    secrets_ok = [
        secrets.compare_digest(client_secret, candidate)
        for candidate in settings.SMARTCAR_EMULATOR_API_CLIENT_SECRETS[:MAX_API_CLIENT_SECRETS]
    ]
    return secrets.compare_digest(client_id, settings.SMARTCAR_EMULATOR_API_CLIENT_ID) and any(secrets_ok)


def issue_application_token(*, api_client_id: str) -> tuple[str, int]:
    """A new application token and its lifetime in seconds; tokens issued earlier stay valid until they expire."""
    token, now = str(uuid.uuid4()), clock.now()
    ApplicationToken.objects.create(
        token_hash=digest(token),
        hint=hint(token),
        api_client_id=api_client_id,
        issued_at=now,
        expires_at=now + APPLICATION_TOKEN_LIFETIME,
    )
    return token, int(APPLICATION_TOKEN_LIFETIME.total_seconds())


def application_token(token: str) -> ApplicationToken | None:
    """The application token row for this bearer token, expired or not; None if it is no application token."""
    return ApplicationToken.objects.filter(token_hash=digest(token)).first()


def user_grant(*, user_id: str, vehicle_id: str) -> Grant | None:
    """The newest live grant in which the Smartcar user `user_id` gave the emulator's application this car."""
    try:
        uuid.UUID(user_id)
    except ValueError:
        return None
    return (
        Grant.objects.live()
        .select_related("user")
        .filter(user__smartcar_id=user_id, vehicles__vehicle_id=vehicle_id)
        .first()
    )


def grant_for_access_token(token: str) -> tuple[Grant, AccessToken]:
    """The live grant behind a bearer token, or AUTHENTICATION."""
    row = AccessToken.objects.select_related("grant__user").filter(token_hash=digest(token)).first()
    if row is None or row.expires_at <= clock.now() or row.grant.revoked_at is not None:
        raise ApiError("AUTHENTICATION")
    return row.grant, row


@transaction.atomic(using=database_alias())
def disconnect(*, grant: Grant, vehicle: EmulatedVehicle) -> None:
    """Revoke the application's access to the car: every grant of this application loses it."""
    now = clock.now()
    grants = list(Grant.objects.select_for_update().filter(client_id=grant.client_id, vehicles=vehicle))
    for each in grants:
        each.vehicles.remove(vehicle)
        if not each.vehicles.exists():
            each.revoked_at = now
            each.save(update_fields=["revoked_at"])
    webhooks.forget(vehicle=vehicle)


def connections(*, user_id: str | None = None, vehicle_id: str | None = None) -> list[tuple[Grant, EmulatedVehicle]]:
    """The emulator's application's connections, newest first: one per person and car, from the newest live grant
    that gave it, optionally only one person's (their Smartcar user id) or one car's."""
    grants = Grant.objects.live()
    for name, value in (("user__smartcar_id", user_id), ("vehicles__vehicle_id", vehicle_id)):
        if value is not None:
            try:
                grants = grants.filter(**{name: uuid.UUID(value)})
            except ValueError:
                return []
    found: dict[tuple[int, int], tuple[Grant, EmulatedVehicle]] = {}
    for grant in grants.select_related("user").prefetch_related("vehicles").distinct():
        for car in grant.vehicles.all():
            if vehicle_id is None or str(car.vehicle_id) == str(uuid.UUID(vehicle_id)):
                found.setdefault((grant.user_id, car.pk), (grant, car))
    return list(found.values())


def find_existing_grant(*, user: EmulatorUser, client_id: str, scopes: list[str]) -> Grant | None:
    """A live grant that already covers these permissions, for approval_prompt=auto."""
    for grant in Grant.objects.filter(user=user, client_id=client_id, revoked_at=None).order_by("-created_at"):
        if set(scopes) <= set(grant.scopes) and grant.vehicles.exists():
            return grant
    return None


def matching_faults(*, vehicle: EmulatedVehicle | None, path: str) -> Fault | None:
    """The oldest fault that applies to this call, consuming one of its uses."""
    with transaction.atomic(using=database_alias()):
        candidates = Fault.objects.select_for_update().filter(path__in=["", path]).order_by("pk")
        for fault in candidates:
            if fault.vehicle_id is not None and (vehicle is None or fault.vehicle_id != vehicle.pk):
                continue
            if fault.remaining is not None:
                if fault.remaining <= 0:
                    continue
                Fault.objects.filter(pk=fault.pk).update(remaining=F("remaining") - 1)
            return fault
    return None


def take_from_bucket(*, key: str, capacity: float, refill_per_minute: float, now: datetime) -> int | None:
    """Take one request from a token bucket; None if it was there, else the seconds until one will be."""
    with transaction.atomic(using=database_alias()):
        bucket, _ = RateLimitBucket.objects.select_for_update().get_or_create(
            key=key, defaults={"tokens": capacity, "updated_at": now}
        )
        elapsed_minutes = max(0.0, (now - bucket.updated_at).total_seconds() / 60)
        bucket.tokens = min(capacity, bucket.tokens + elapsed_minutes * refill_per_minute)
        bucket.updated_at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.save(update_fields=["tokens", "updated_at"])
            return None
        bucket.save(update_fields=["tokens", "updated_at"])
        if refill_per_minute <= 0:
            return 3600
        return max(1, math.ceil((1 - bucket.tokens) * 60 / refill_per_minute))


def check_rate_limits(*, vehicle: EmulatedVehicle | None) -> None:
    """Smartcar's application bucket first, then the per-vehicle throttle (which says when to come back)."""
    knobs = clock.knobs()
    if not knobs.rate_limits_enabled:
        return
    now = clock.now()
    wait = take_from_bucket(
        key="application", capacity=knobs.app_capacity, refill_per_minute=knobs.app_refill_per_minute, now=now
    )
    if wait is not None:
        raise ApiError("RATE_LIMIT", "SMARTCAR_API", retry_after=wait)
    if vehicle is None:
        return
    wait = take_from_bucket(
        key=f"vehicle:{vehicle.vehicle_id}",
        capacity=knobs.vehicle_capacity,
        refill_per_minute=knobs.vehicle_refill_per_minute,
        now=now,
    )
    if wait is not None:
        raise ApiError("RATE_LIMIT", "VEHICLE", retry_after=wait)


def log_request(
    *,
    method: str,
    path: str,
    token: str,
    vehicle_id: str,
    status_code: int,
    outcome: str,
    request_id: str,
    user_id: str = "",
) -> None:
    RequestLog.objects.create(
        at=clock.now(),
        method=method,
        path=path[:500],
        token_hint=hint(token) if token else "",
        user_id=user_id[:64],
        vehicle_id=vehicle_id[:64],
        status_code=status_code,
        outcome=outcome[:80],
        request_id=request_id,
    )
