"""Smartcar connections (one per granted Smartcar account, tokens encrypted), their vehicles, pending Connects."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from vehicles.fields import EncryptedTextField


class SmartcarConnection(models.Model):
    """One user's grant from one Smartcar account: the tokens that reach its vehicles."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_REAUTH = "needs_reauth", "Needs reconnecting"
        REVOKED = "revoked", "Revoked"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="smartcar_connections")
    smartcar_user_id = models.CharField(max_length=100)
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField()
    access_expires_at = models.DateTimeField()
    refresh_expires_at = models.DateTimeField()
    scopes = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    # Bumped on every change of the token pair, so that a holder of an old pair can tell it is stale.
    token_version = models.PositiveIntegerField(default=1)
    connected_at = models.DateTimeField(default=timezone.now)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

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
        ]

    def __str__(self) -> str:
        return f"Smartcar account {self.smartcar_user_id} of {self.owner_id}"

    def __repr__(self) -> str:
        return f"<SmartcarConnection {self.pk} owner={self.owner_id} status={self.status} v{self.token_version}>"

    def access_token_valid_for(self, margin: timedelta) -> bool:
        return self.access_expires_at > timezone.now() + margin


class VehicleQuerySet(models.QuerySet):
    def for_table(self) -> VehicleQuerySet:
        """What a table of vehicles shows and nothing else, one dict per row, for vehicles.presentation: pk, make,
        model, year, the connection's `status`, and `updated`, when the car's data was last fetched or else when the
        row last changed, as ISO 8601 text (read with datetime.fromisoformat, in C: the timestamptz loader Django
        gives psycopg runs in Python, about ten microseconds a value, a third of what fetching a row cost).

        No model instances, tokens or data snapshot: a model instance and its connection per row cost more than the
        rest of the page."""
        return self.values(
            "pk",
            "make",
            "model",
            "year",
            status=models.F("connection__status"),
            updated=Cast(Coalesce("data_fetched_at", "updated_at"), output_field=models.TextField()),
        )


class Vehicle(models.Model):
    """A car a user connected; the same car connected by two users is two rows."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="vehicles")
    connection = models.ForeignKey(SmartcarConnection, on_delete=models.CASCADE, related_name="vehicles")
    smartcar_vehicle_id = models.CharField(max_length=100)
    make = models.CharField(max_length=100)
    model = models.CharField(max_length=100)
    year = models.PositiveSmallIntegerField()
    # The latest signals as the vehicle API returned them (metric), and when they were fetched.
    data = models.JSONField(default=dict, blank=True)
    data_fetched_at = models.DateTimeField(null=True, blank=True)
    # A fetch queued and not landed yet; the page reloads itself meanwhile.
    sync_requested_at = models.DateTimeField(null=True, blank=True)
    # What the person should know about the last failed fetch, already worded for them.
    sync_error = models.CharField(max_length=300, blank=True)
    # Smartcar's per-vehicle Retry-After: no call for this vehicle before then, from any process.
    retry_not_before = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VehicleQuerySet.as_manager()

    class Meta:
        ordering = ["make", "model", "year", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "smartcar_vehicle_id"], name="vehicles_vehicle_owner_id_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.year} {self.make} {self.model}"


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
    return_to = models.CharField(max_length=500, blank=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="vehicles_pending_expiry_idx")]

    def __str__(self) -> str:
        return f"Connect by {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"
