"""The emulator in the admin: people, cars, grants, tokens (by hint only), faults, limits, the request log, and webhooks
with their subscriptions and delivery log (management tokens by hint only)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin

from smartcar_emulator import services
from smartcar_emulator.models import (
    AccessToken,
    ApplicationToken,
    AuthorizationCode,
    DeliveryAttempt,
    EmulatedVehicle,
    EmulatorUser,
    Fault,
    Grant,
    Knobs,
    RateLimitBucket,
    RefreshToken,
    RequestLog,
    Subscription,
    Webhook,
    WebhookEvent,
)


class EmulatorAdmin(admin.ModelAdmin):
    """Listed on the admin's index in development only (DEBUG): elsewhere support staff see the product, and the
    emulator's pages stay reachable by their address."""

    def has_module_permission(self, request) -> bool:
        return settings.DEBUG and super().has_module_permission(request)


class ReadOnlyAdmin(EmulatorAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class EmulatedVehicleInline(admin.TabularInline):
    model = EmulatedVehicle
    fields = ("vehicle_id", "make", "model", "year", "powertrain", "is_asleep")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(EmulatorUser)
class EmulatorUserAdmin(EmulatorAdmin):
    list_display = ("username", "smartcar_id", "created_at")
    search_fields = ("username",)
    readonly_fields = ("smartcar_id", "created_at")
    inlines = [EmulatedVehicleInline]


@admin.register(EmulatedVehicle)
class EmulatedVehicleAdmin(EmulatorAdmin):
    list_display = ("vehicle_id", "owner", "make", "model", "year", "powertrain", "is_locked", "is_asleep")
    list_filter = ("powertrain", "make", "is_asleep")
    search_fields = ("vehicle_id", "vin", "owner__username")
    readonly_fields = ("owner", "vehicle_id", "position", "vin", "make", "model", "year", "powertrain")


@admin.register(Grant)
class GrantAdmin(ReadOnlyAdmin):
    list_display = ("pk", "user", "client_id", "created_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("user__username",)


# Token rows show only a hint: the admin never shows a token, nor its hash.
@admin.register(AuthorizationCode)
class AuthorizationCodeAdmin(ReadOnlyAdmin):
    list_display = ("hint", "user", "issued_at", "expires_at", "used_at")
    exclude = ("code_hash",)


@admin.register(AccessToken)
class AccessTokenAdmin(ReadOnlyAdmin):
    list_display = ("hint", "grant", "issued_at", "expires_at")
    exclude = ("token_hash",)


@admin.register(RefreshToken)
class RefreshTokenAdmin(ReadOnlyAdmin):
    list_display = ("hint", "grant", "issued_at", "expires_at", "first_used_at")
    exclude = ("token_hash",)


@admin.register(ApplicationToken)
class ApplicationTokenAdmin(ReadOnlyAdmin):
    list_display = ("hint", "api_client_id", "issued_at", "expires_at")
    exclude = ("token_hash",)


@admin.register(Fault)
class FaultAdmin(EmulatorAdmin):
    list_display = ("pk", "vehicle", "path", "error_type", "error_code", "remaining", "latency_ms", "retry_after")


@admin.register(Knobs)
class KnobsAdmin(EmulatorAdmin):
    list_display = (
        "clock_offset_seconds",
        "rate_limits_enabled",
        "app_capacity",
        "vehicle_capacity",
        "enabled_makes",
        "updated_at",
    )


@admin.register(RateLimitBucket)
class RateLimitBucketAdmin(EmulatorAdmin):
    list_display = ("key", "tokens", "updated_at")


@admin.register(RequestLog)
class RequestLogAdmin(ReadOnlyAdmin):
    list_display = ("at", "method", "path", "token_hint", "user_id", "vehicle_id", "status_code", "outcome")
    list_filter = ("status_code", "method")
    search_fields = ("path", "vehicle_id", "request_id")


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    fields = ("vehicle", "created_at", "reported_asleep")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Webhook)
class WebhookAdmin(ReadOnlyAdmin):
    list_display = ("webhook_id", "name", "callback_url", "verification", "auto_enroll", "created_at")
    list_filter = ("verification", "auto_enroll")
    fields = (
        "webhook_id",
        "name",
        "callback_url",
        "token_hint",
        "signals",
        "triggers",
        "auto_enroll",
        "verification",
        "verification_detail",
        "verified_at",
        "created_at",
    )
    readonly_fields = fields
    inlines = [SubscriptionInline]

    @admin.display(description="management token")
    def token_hint(self, webhook: Webhook) -> str:
        return f"{services.hint(webhook.management_token)}…"


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "attempted_at", "delivery_id", "status_code", "error", "duration_ms")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event_id", "event_type", "summary", "vehicle", "webhook", "status", "attempts")
    list_filter = ("event_type", "status")
    search_fields = ("event_id", "vehicle__vehicle_id", "summary")
    inlines = [DeliveryAttemptInline]


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    """The delivery log: every attempt, with the event, the car, the receiver's answer and the time."""

    list_display = ("attempted_at", "event_id", "event_type", "vehicle", "number", "status_code", "error")
    list_filter = ("status_code", "event__event_type")
    search_fields = ("event__event_id", "event__vehicle__vehicle_id", "delivery_id")
    list_select_related = ("event__vehicle",)

    @admin.display(description="event id")
    def event_id(self, attempt: DeliveryAttempt) -> str:
        return str(attempt.event.event_id)

    @admin.display(description="type")
    def event_type(self, attempt: DeliveryAttempt) -> str:
        return attempt.event.event_type

    @admin.display(description="vehicle")
    def vehicle(self, attempt: DeliveryAttempt) -> str:
        return str(attempt.event.vehicle.vehicle_id) if attempt.event.vehicle else "-"
