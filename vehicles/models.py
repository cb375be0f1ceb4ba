"""Smartcar connections (one per granted Smartcar account, tokens encrypted), their vehicles, pending Connects."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import JSONObject
from django.utils import timezone

from config.redirects import MAX_RETURN_TO_LENGTH
from vehicles.fields import EncryptedTextField


class SmartcarConnection(models.Model):
    """One user's grant from one Smartcar account: the tokens that reach its vehicles."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_REAUTH = "needs_reauth", "Needs reconnecting"
        REVOKED = "revoked", "Revoked"

    class Auth(models.TextChoices):
        # Its own access and refresh tokens, from Connect's code.
        VEHICLE_TOKENS = "vehicle-tokens", "Vehicle tokens"
        # Smartcar's API Authentication: no tokens of its own; the application token and the Smartcar user id.
        APPLICATION = "application", "Application token"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="smartcar_connections")
    smartcar_user_id = models.CharField(max_length=100)
    auth = models.CharField(max_length=20, choices=Auth.choices, default=Auth.VEHICLE_TOKENS)
    # Empty (and the expiries None) for a connection on the application token.
    access_token = EncryptedTextField(blank=True)
    refresh_token = EncryptedTextField(blank=True)
    access_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    # Bumped on every change of the token pair, so that a holder of an old pair can tell it is stale.
    token_version = models.PositiveIntegerField(default=1)
    connected_at = models.DateTimeField(default=timezone.now)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # When the owner was told by email that the connection needs reconnecting: once per fall into NEEDS_REAUTH,
    # cleared when Connect restores it.
    reauth_notified_at = models.DateTimeField(null=True, blank=True)
    # The intent of a refresh in progress, committed before the token call: when it began, from token_version. If its
    # refresher dies, another finds it here and finishes the rotation with the same refresh token inside the grace.
    refresh_started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    # What set_tokens() changes.
    TOKEN_FIELDS = [
        "access_token",
        "refresh_token",
        "access_expires_at",
        "refresh_expires_at",
        "status",
        "token_version",
        "refresh_started_at",
        "last_refreshed_at",
        "last_error",
        "last_error_at",
        "updated_at",
    ]

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "smartcar_user_id"], name="vehicles_connection_owner_account_unique"
            ),
        ]
        # The beat's two questions: whose access token expires soon, whose refresh token grows old.
        indexes = [
            models.Index(fields=["status", "access_expires_at"], name="vehicles_connection_due_idx"),
            models.Index(fields=["status", "refresh_expires_at"], name="vehicles_connection_aging_idx"),
            # The recovery sweep's question, asked every few seconds: which refreshes were left unfinished.
            models.Index(
                fields=["refresh_started_at"],
                condition=models.Q(refresh_started_at__isnull=False),
                name="vehicles_connection_intent_idx",
            ),
        ]

    def __str__(self) -> str:
        # Support staff tell connections apart by whose they are; the id's start tells one person's accounts apart.
        return f"Smartcar account of {self.owner.email} ({self.smartcar_user_id[:8]})"

    def __repr__(self) -> str:
        return f"<SmartcarConnection {self.pk} owner={self.owner_id} status={self.status} v{self.token_version}>"

    @property
    def api_user_id(self) -> str | None:
        """The Smartcar user id to send as `sc-user-id` (API Authentication), or None with the vehicle's own tokens."""
        return self.smartcar_user_id if self.auth == self.Auth.APPLICATION else None

    def access_token_valid_for(self, margin: timedelta) -> bool:
        return self.access_expires_at is not None and self.access_expires_at > timezone.now() + margin

    def set_tokens(self, *, access_token: str, refresh_token: str, access_expires_at, refresh_expires_at) -> None:
        """A new pair from Smartcar: the connection is active again at the next token version, with no refresh in
        progress and no error. The caller saves TOKEN_FIELDS."""
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.access_expires_at = access_expires_at
        self.refresh_expires_at = refresh_expires_at
        self.status = self.Status.ACTIVE
        self.token_version += 1
        self.refresh_started_at = None
        self.last_refreshed_at = timezone.now()
        self.last_error = ""
        self.last_error_at = None


class ApplicationToken(models.Model):
    """The one application token of Smartcar's API Authentication (client credentials, about an hour long): it reads
    every connected user's cars, so it is kept encrypted like the per-vehicle tokens. One row."""

    access_token = EncryptedTextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    minted_at = models.DateTimeField(null=True, blank=True)
    # Bumped on every new token, so that a holder of an old one can tell it is stale.
    token_version = models.PositiveIntegerField(default=0)

    class Meta:
        # Not in the admin, and no permission to see it: nobody needs to look at the token itself.
        default_permissions = ()

    def __str__(self) -> str:
        return f"application token v{self.token_version}"

    def __repr__(self) -> str:
        return f"<ApplicationToken v{self.token_version} expires_at={self.expires_at}>"

    def valid_for(self, margin: timedelta) -> bool:
        return bool(self.access_token) and self.expires_at is not None and self.expires_at > timezone.now() + margin


# The signals the garage overview shows, read out of each car's snapshot by the database.
OVERVIEW_SIGNALS = (
    "tractionbattery-stateofcharge",
    "tractionbattery-range",
    "internalcombustionengine-fuellevel",
    "internalcombustionengine-range",
    "closure-islocked",
    "charge-ischarging",
    "charge-ischargingcableconnected",
    "location-preciselocation",
)


class VehicleQuerySet(models.QuerySet):
    def for_table(self) -> VehicleQuerySet:
        """What the garage overview shows, in one query: each car's name, make, model, year and VIN, the
        connection's status and permissions, whether a fetch is under way, and from the data snapshot only the
        signals the overview shows (`overview_signals`), so that a car reporting eighty signals costs no more than one
        reporting ten. The connection's tokens stay in the database: the overview needs no decryption key."""
        return (
            self.select_related("connection")
            .only(
                "name",
                "make",
                "model",
                "year",
                "vin",
                "data_fetched_at",
                "sync_requested_at",
                "sync_error",
                "state_error_type",
                "state_error_code",
                "connection__status",
                "connection__scopes",
            )
            .annotate(overview_signals=JSONObject(**{code: F(f"data__signals__{code}") for code in OVERVIEW_SIGNALS}))
        )


class Vehicle(models.Model):
    """A car a user connected; the same car connected by two users is two rows."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="vehicles")
    connection = models.ForeignKey(SmartcarConnection, on_delete=models.CASCADE, related_name="vehicles")
    smartcar_vehicle_id = models.CharField(max_length=100)
    make = models.CharField(max_length=100)
    model = models.CharField(max_length=100)
    year = models.PositiveSmallIntegerField()
    # What the owner calls the car; blank: `default_name`.
    name = models.CharField(max_length=60, blank=True)
    # The VIN, from its signal at each fetch that reports one (blank before, or without read_vin): a column for search.
    vin = models.CharField("VIN", max_length=17, blank=True, db_index=True)
    # The latest signals as the vehicle API returned them (metric), and when they were fetched.
    data = models.JSONField(default=dict, blank=True)
    data_fetched_at = models.DateTimeField(null=True, blank=True)
    # A fetch queued and not landed yet; the pages say the car is being asked, and update when it lands.
    sync_requested_at = models.DateTimeField(null=True, blank=True)
    # What the person should know about the last failed fetch, already worded for them.
    sync_error = models.CharField(max_length=300, blank=True)
    # Smartcar's per-vehicle Retry-After: no call for this vehicle before then, from any process.
    retry_not_before = models.DateTimeField(null=True, blank=True)
    # When Smartcar last pushed this car's signals to the webhook (docs/webhooks.md): fresh pushes slow the polling.
    data_pushed_at = models.DateTimeField(null=True, blank=True)
    # What Smartcar last said the car cannot do (a VEHICLE_ERROR delivery), until it says RESOLVED: e.g.
    # VEHICLE_STATE / ASLEEP. Shown to the person; never proof that the grant is dead.
    state_error_type = models.CharField(max_length=50, blank=True)
    state_error_code = models.CharField(max_length=50, blank=True)
    state_error_at = models.DateTimeField(null=True, blank=True)
    # The car's subscription to SMARTCAR_WEBHOOK_ID: when it was made, or why it could not be (retried by a task).
    webhook_subscribed_at = models.DateTimeField(null=True, blank=True)
    webhook_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VehicleQuerySet.as_manager()

    class Meta:
        ordering = ["make", "model", "year", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "smartcar_vehicle_id"], name="vehicles_vehicle_owner_id_unique"),
        ]
        permissions = [
            # Support staff see where a car is to within a kilometre or so; the exact spot only with this.
            ("view_precise_location", "Can see a vehicle's precise location"),
        ]

    def __str__(self) -> str:
        return self.name or self.default_name

    @property
    def default_name(self) -> str:
        """Year, make and model, and the VIN's last four characters once known: two identical cars differ."""
        name = f"{self.year} {self.make} {self.model}"
        return f"{name} · {self.vin[-4:]}" if len(self.vin) >= 4 else name


class Reading(models.Model):
    """A car's history: what it reported of the signals that change (battery and fuel level, ranges, odometer,
    charging), one row each time one of them changed, in metric units. Kept for VEHICLE_HISTORY_DAYS."""

    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="readings")
    # When the car reported the change (its own time, else when it was received).
    recorded_at = models.DateTimeField()
    # None: the car does not have it, was not allowed to say, or could not say at that moment.
    battery_percent = models.FloatField(null=True)
    fuel_percent = models.FloatField(null=True)
    electric_range_km = models.FloatField(null=True)
    fuel_range_km = models.FloatField(null=True)
    odometer_km = models.FloatField(null=True)
    charging = models.BooleanField(null=True)

    class Meta:
        # The owner sees it drawn on the vehicle page; nobody needs it row by row in the admin.
        default_permissions = ()
        indexes = [
            # The vehicle page's question (one car's last days) and the pruning's (everything older than the
            # retention).
            models.Index(fields=["vehicle", "recorded_at"], name="vehicles_reading_vehicle_idx"),
            models.Index(fields=["recorded_at"], name="vehicles_reading_age_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} at {self.recorded_at:%Y-%m-%d %H:%M}"


class VehicleCommand(models.Model):
    """A command a person sent to a vehicle, and what came of it."""

    class Action(models.TextChoices):
        LOCK = "lock", "Lock"
        UNLOCK = "unlock", "Unlock"
        START_CHARGE = "start_charge", "Start charging"
        STOP_CHARGE = "stop_charge", "Stop charging"

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="commands")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.vehicle}: {self.get_outcome_display()}"


class PendingConnect(models.Model):
    """A Connect launched by a user and not yet returned: the OAuth `state`, bound to that user, used once."""

    # SHA-256 of the state: the database never holds a value that would complete someone's flow.
    state_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    return_to = models.CharField(max_length=MAX_RETURN_TO_LENGTH, blank=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="vehicles_pending_expiry_idx")]

    def __str__(self) -> str:
        return f"Connect by {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"


class WebhookEvent(models.Model):
    """One delivery to the Smartcar webhook, kept as it arrived (signature checked first), processed in the
    background. Unique on Smartcar's eventId: a retried delivery is acknowledged and not processed again."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Waiting to be processed"
        PROCESSED = "processed", "Processed"
        # For a vehicle or user nobody here has connected: kept for support, otherwise ignored.
        IGNORED = "ignored", "Ignored (unknown vehicle)"
        # Signed by Smartcar but not understood (malformed JSON, an unknown event type): kept, never retried.
        REJECTED = "rejected", "Rejected"

    event_id = models.CharField(max_length=100, unique=True)
    event_type = models.CharField(max_length=50, blank=True)
    smartcar_vehicle_id = models.CharField(max_length=100, blank=True, db_index=True)
    # The raw body as Smartcar sent it, for replay and support (it can hold a precise location: not shown in the admin).
    body = models.TextField()
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.PENDING, db_index=True)
    detail = models.CharField(max_length=255, blank=True)
    processing_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.event_type or 'event'} {self.event_id}"
