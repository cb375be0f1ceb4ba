"""The emulator's own state: people and their cars, grants and tokens, the clock, faults, limits, a log, and the
application's webhooks with their subscriptions and deliveries."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Powertrain(models.TextChoices):
    BEV = "BEV", "Battery electric"
    PHEV = "PHEV", "Plug-in hybrid"
    ICE = "ICE", "Combustion engine"


class EmulatorUser(models.Model):
    """A connected-services account; its fleet is derived from the username, so it survives a wiped database."""

    username = models.CharField(max_length=150, unique=True)
    smartcar_id = models.UUIDField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.username


class EmulatedVehicle(models.Model):
    """One car and its simulated state, advanced along the emulator's clock whenever it is read."""

    owner = models.ForeignKey(EmulatorUser, on_delete=models.CASCADE, related_name="vehicles")
    vehicle_id = models.UUIDField(unique=True)
    position = models.PositiveSmallIntegerField()
    vin = models.CharField(max_length=17)
    make = models.CharField(max_length=40)
    model = models.CharField(max_length=60)
    year = models.PositiveSmallIntegerField()
    powertrain = models.CharField(max_length=4, choices=Powertrain.choices)
    battery_capacity_kwh = models.FloatField(null=True, blank=True)
    electric_range_km = models.FloatField(null=True, blank=True)
    tank_litres = models.FloatField(null=True, blank=True)
    fuel_range_km = models.FloatField(null=True, blank=True)

    odometer_km = models.FloatField()
    state_of_charge = models.FloatField(null=True, blank=True, help_text="0..1, electric cars only")
    fuel_level = models.FloatField(null=True, blank=True, help_text="0..1, cars with a tank only")
    oil_life = models.FloatField(null=True, blank=True)
    latitude = models.FloatField()
    longitude = models.FloatField()
    tire_pressures_kpa = models.JSONField(default=list)
    is_locked = models.BooleanField(default=True)
    is_plugged_in = models.BooleanField(default=False)
    is_charging = models.BooleanField(default=False)
    is_asleep = models.BooleanField(default=False)
    state_updated_at = models.DateTimeField()

    class Meta:
        ordering = ["owner", "position"]

    def __str__(self) -> str:
        return f"{self.year} {self.make} {self.model}"

    @property
    def is_electric(self) -> bool:
        return self.powertrain in (Powertrain.BEV, Powertrain.PHEV)

    @property
    def has_tank(self) -> bool:
        return self.powertrain in (Powertrain.ICE, Powertrain.PHEV)


class GrantQuerySet(models.QuerySet):
    def live(self) -> GrantQuerySet:
        """The emulator's application's grants not revoked, newest first."""
        return self.filter(client_id=settings.SMARTCAR_EMULATOR_CLIENT_ID, revoked_at=None).order_by(
            "-created_at", "-pk"
        )


class Grant(models.Model):
    """What one approval in Connect allows: an application, a set of permissions and a set of vehicles.

    It exists from the approval on: API Authentication reads the cars with the user's id and never exchanges the code.
    """

    user = models.ForeignKey(EmulatorUser, on_delete=models.CASCADE, related_name="grants")
    client_id = models.CharField(max_length=200)
    scopes = models.JSONField(default=list)
    vehicles = models.ManyToManyField(EmulatedVehicle, blank=True, related_name="grants")
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = GrantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"grant {self.pk} for {self.user}"


class AuthorizationCode(models.Model):
    """A Connect approval's code, waiting to be exchanged for its grant's first tokens: single use, short-lived."""

    code_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=8)
    user = models.ForeignKey(EmulatorUser, on_delete=models.CASCADE)
    client_id = models.CharField(max_length=200)
    redirect_uri = models.CharField(max_length=500, blank=True)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="codes")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code {self.hint}…"


class AccessToken(models.Model):
    """A bearer token; only its hash and a short hint are kept."""

    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=8)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="access_tokens")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"access {self.hint}…"


class RefreshToken(models.Model):
    """A refresh token; it rotates, and the old one keeps working for a short grace after its first use."""

    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=8)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="refresh_tokens")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    first_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refresh {self.hint}…"


class ApplicationToken(models.Model):
    """An API Authentication token from the IAM endpoint: the whole application's, an hour long, no refresh token."""

    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=8)
    api_client_id = models.CharField(max_length=200)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"application {self.hint}…"


class Knobs(models.Model):
    """The one row of run-time settings every process shares: the clock offset and the rate limits."""

    clock_offset_seconds = models.BigIntegerField(default=0)
    rate_limits_enabled = models.BooleanField(default=True)
    # Smartcar's application bucket: 120 requests, refilling 2 a minute.
    app_capacity = models.FloatField(default=120)
    app_refill_per_minute = models.FloatField(default=2)
    vehicle_capacity = models.FloatField(default=30)
    vehicle_refill_per_minute = models.FloatField(default=30)
    # The makes the application is enabled for in Smartcar's dashboard; empty means every make.
    enabled_makes = models.JSONField(default=list, blank=True)
    # Whether the webhook of SMARTCAR_EMULATOR_WEBHOOK_URL was set up; once it was, deleting it through the control API
    # keeps it deleted (until a reset).
    default_webhook_installed = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "knobs"

    def __str__(self) -> str:
        return f"clock offset {self.clock_offset_seconds} s"


class Fault(models.Model):
    """An injected failure for the vehicle API: global or for one vehicle, a number of times or always."""

    vehicle = models.ForeignKey(EmulatedVehicle, null=True, blank=True, on_delete=models.CASCADE)
    path = models.CharField(max_length=100, blank=True, help_text="e.g. odometer; blank matches every path")
    error_type = models.CharField(max_length=40, blank=True, help_text="blank: no error, only latency")
    error_code = models.CharField(max_length=60, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    remaining = models.PositiveIntegerField(null=True, blank=True, help_text="blank: always")
    latency_ms = models.PositiveIntegerField(default=0)
    retry_after = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.error_type or 'latency'}:{self.error_code or '-'} on {self.path or 'any path'}"


class RateLimitBucket(models.Model):
    """A token bucket: the application's, or one per vehicle."""

    key = models.CharField(max_length=80, unique=True)
    tokens = models.FloatField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key}: {self.tokens:.1f} left"


class RequestLog(models.Model):
    """One call to a token endpoint or the vehicle API, as the emulator answered it (the path with its query)."""

    at = models.DateTimeField(db_index=True)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    token_hint = models.CharField(max_length=8, blank=True)
    # The sc-user-id header as sent, for calls made with the application token.
    user_id = models.CharField(max_length=64, blank=True)
    vehicle_id = models.CharField(max_length=64, blank=True)
    status_code = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=80)
    request_id = models.CharField(max_length=36, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.method} {self.path} → {self.status_code}"


class Webhook(models.Model):
    """One of the application's webhooks, as Smartcar's dashboard sets one up: where to deliver, the management token
    that signs, the signals every delivery carries and the ones whose change triggers one."""

    class Verification(models.TextChoices):
        PENDING = "pending", "Not verified yet"
        VERIFIED = "verified", "Verified"
        FAILED = "failed", "Verification failed"

    webhook_id = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=100)
    callback_url = models.URLField(max_length=500)
    # Kept as written: the emulator signs with it. The admin and the control API show only a hint.
    management_token = models.CharField(max_length=200)
    signals = models.JSONField(default=list, help_text="codes of the signals every VEHICLE_STATE carries")
    triggers = models.JSONField(default=list, help_text="codes of the signals whose change sends a VEHICLE_STATE")
    auto_enroll = models.BooleanField(default=False, help_text="subscribe every newly connected car")
    verification = models.CharField(max_length=10, choices=Verification.choices, default=Verification.PENDING)
    verification_detail = models.CharField(max_length=255, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} ({self.webhook_id})"


class Subscription(models.Model):
    """A car subscribed to a webhook, and what the webhook was last told about it."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="subscriptions")
    vehicle = models.ForeignKey(EmulatedVehicle, on_delete=models.CASCADE, related_name="subscriptions")
    created_at = models.DateTimeField()
    # The signals as the last VEHICLE_STATE carried them (code -> body or error), to see which triggers changed since.
    last_sent = models.JSONField(default=dict)
    # Whether the last VEHICLE_ERROR about sleep said the car is asleep (a later one resolves it).
    reported_asleep = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["webhook", "vehicle"], name="one_subscription_per_webhook_car")]

    def __str__(self) -> str:
        return f"{self.vehicle} on {self.webhook}"


class WebhookEvent(models.Model):
    """One event for a webhook (its eventId), delivered once or retried on Smartcar's schedule, then dropped."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        DROPPED = "dropped", "Dropped"

    event_id = models.UUIDField(unique=True)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="events")
    vehicle = models.ForeignKey(
        EmulatedVehicle, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_events"
    )
    event_type = models.CharField(max_length=20)
    # What caused it, for the log: FIRST_DELIVERY, the changed triggers, ASLEEP, ASLEEP RESOLVED.
    summary = models.CharField(max_length=255, blank=True)
    # The body without meta.deliveryId and meta.deliveredAt, which each attempt adds.
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # On the emulator's clock; null once delivered or dropped.
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class DeliveryAttempt(models.Model):
    """The delivery log: one POST of an event to its webhook (its deliveryId), and how the receiver answered."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="delivery_attempts")
    delivery_id = models.UUIDField(unique=True)
    number = models.PositiveSmallIntegerField()
    attempted_at = models.DateTimeField(db_index=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-attempted_at", "-pk"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.event}"
