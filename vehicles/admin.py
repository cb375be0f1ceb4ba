"""Connections and vehicles in the admin: who is connected, which cars, which grants fail and why; never a token."""

from __future__ import annotations

import logging
from datetime import datetime

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timesince import timesince, timeuntil
from kombu.exceptions import OperationalError

from accounts import admin as accounts_admin
from accounts.models import User
from vehicles.models import SmartcarConnection, Vehicle, WebhookEvent
from vehicles.presentation import vehicle_facts
from vehicles.services import disconnect, tokens
from vehicles.smartcar_client import REFRESH_TOKEN_LIFETIME
from vehicles.tasks import refresh_connection

logger = logging.getLogger(__name__)

# Deferred in every admin query and excluded from every form: what is never loaded cannot be rendered, and the
# pages keep working while a key is missing from TOKEN_ENCRYPTION_KEYS.
TOKEN_FIELDS = ("access_token", "refresh_token")
CONNECTION_TOKEN_FIELDS = tuple(f"connection__{name}" for name in TOKEN_FIELDS)


def admin_link(obj: Model, text: object | None = None) -> str:
    """A link to the admin page of `obj`, labelled `text` (default: str(obj))."""
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
    return format_html('<a href="{}">{}</a>', url, obj if text is None else text)


# An API Authentication connection has no tokens of its own: the application token serves it.
NO_OWN_TOKEN = "none (application token)"  # noqa: S105 - a label, not a secret


def humanize_expiry(moment: datetime | None) -> str:
    """'in 25 minutes', or 'expired 3 hours ago' ('no token of its own' for an application-token connection)."""
    if moment is None:
        return NO_OWN_TOKEN
    now = timezone.now()
    if moment <= now:
        return f"expired {timesince(moment, now)} ago"
    return f"in {timeuntil(moment, now)}"


class ConnectionHealthFilter(admin.SimpleListFilter):
    title = "health"
    parameter_name = "health"
    EXPIRING_SOON = "expiring"
    REFRESH_FAILING = "failing"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(self.EXPIRING_SOON, "Expiring soon"), (self.REFRESH_FAILING, "Refresh failing")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == self.EXPIRING_SOON:
            # Exactly the connections the next beat sweep will refresh.
            return queryset.filter(pk__in=tokens.due_connection_ids())
        if self.value() == self.REFRESH_FAILING:
            return queryset.exclude(last_error="")
        return queryset


class ConnectionColumns:
    """What the connection list and the user page's connection rows show about a connection's tokens."""

    @admin.display(description="owner", ordering="owner__email")
    def owner_link(self, connection: SmartcarConnection) -> str:
        return admin_link(connection.owner)

    @admin.display(description="access token expires", ordering="access_expires_at")
    def access_token_expires(self, connection: SmartcarConnection) -> str:
        return humanize_expiry(connection.access_expires_at)

    @admin.display(description="refresh token age", ordering="-refresh_expires_at")
    def refresh_token_age(self, connection: SmartcarConnection) -> str:
        if connection.refresh_expires_at is None:
            return NO_OWN_TOKEN
        # Smartcar only says how long an access token lives; a refresh token lives a documented 60 days.
        return timesince(connection.refresh_expires_at - REFRESH_TOKEN_LIFETIME)

    @admin.display(description="refresh token expires", ordering="refresh_expires_at")
    def refresh_token_expires(self, connection: SmartcarConnection) -> str:
        return humanize_expiry(connection.refresh_expires_at)

    @admin.display(description="vehicles", ordering="vehicle_count")
    def vehicle_count(self, connection: SmartcarConnection) -> int:
        return connection.vehicle_count

    @admin.display(description="last error", ordering="last_error")
    def short_error(self, connection: SmartcarConnection) -> str:
        # The list stays within a laptop's width; the whole text is in the tooltip and on the connection's page.
        if not connection.last_error:
            return "—"
        return format_html(
            '<span title="{}">{}</span>', connection.last_error, Truncator(connection.last_error).chars(40)
        )


def connections_for_admin(queryset: QuerySet) -> QuerySet:
    # distinct: searching by a vehicle's fields joins the vehicles a second time. The owner names the connection.
    return (
        queryset.select_related("owner").defer(*TOKEN_FIELDS).annotate(vehicle_count=Count("vehicles", distinct=True))
    )


# Connections and vehicles come only from Smartcar Connect, and only the token choke point may write a connection: an
# admin save would write back the token pair it loaded, over one a concurrent refresh had just stored. Removing goes
# through the connection's "disconnect", which revokes at Smartcar first; a plain delete would leave the grant alive.
class ReadOnlyMixin:
    """For a ModelAdmin or an inline whose rows the admin shows and never adds, changes or deletes."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False


class SmartcarConnectionInline(ConnectionColumns, ReadOnlyInline):
    model = SmartcarConnection
    verbose_name_plural = "Smartcar connections"
    fields = ("connection", "status", "access_token_expires", "last_refreshed_at", "last_error", "vehicle_count")
    readonly_fields = fields
    exclude = TOKEN_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return connections_for_admin(super().get_queryset(request))

    @admin.display(description="connection")
    def connection(self, connection: SmartcarConnection) -> str:
        return admin_link(connection)


class VehicleInline(ReadOnlyInline):
    model = Vehicle
    fields = ("vehicle", "vin", "connection_status", "data_fetched_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("connection").defer(*CONNECTION_TOKEN_FIELDS)

    @admin.display(description="vehicle")
    def vehicle(self, vehicle: Vehicle) -> str:
        return admin_link(vehicle)

    @admin.display(description="connection")
    def connection_status(self, vehicle: Vehicle) -> str:
        return admin_link(vehicle.connection, vehicle.connection.get_status_display())


@admin.register(SmartcarConnection)
class SmartcarConnectionAdmin(ReadOnlyMixin, ConnectionColumns, admin.ModelAdmin):
    # Fits a 1280-pixel screen beside the filters: the owner is in the connection's name; the auth mode is a filter; the
    # Smartcar user id, the refresh time and the whole error are on the connection's page.
    list_display = (
        "__str__",
        "status",
        "access_token_expires",
        "refresh_token_age",
        "refresh_token_expires",
        "short_error",
        "vehicle_count",
    )
    list_display_links = ("__str__",)
    list_filter = ("status", "auth", ConnectionHealthFilter)
    search_fields = (
        "owner__email",
        "smartcar_user_id",
        "vehicles__smartcar_vehicle_id",
        "vehicles__make",
        "vehicles__model",
        "vehicles__vin",
    )
    search_help_text = "Owner's email, Smartcar user or vehicle id, or a vehicle's make, model or VIN."
    ordering = ("-connected_at",)
    exclude = TOKEN_FIELDS
    fieldsets = (
        (None, {"fields": ("owner_link", "smartcar_user_id", "auth", "status", "scopes", "connected_at")}),
        (
            "Tokens (never shown: only their times)",
            {
                "fields": (
                    "access_token_expires",
                    "access_expires_at",
                    "refresh_token_age",
                    "refresh_token_expires",
                    "refresh_expires_at",
                    "last_refreshed_at",
                    "token_version",
                )
            },
        ),
        ("Health", {"fields": ("last_error", "last_error_at", "updated_at")}),
    )
    readonly_fields = helpers.flatten_fieldsets(fieldsets)
    inlines = [VehicleInline]
    actions = ["refresh_now", "disconnect_connections"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return connections_for_admin(super().get_queryset(request))

    def has_refresh_permission(self, request: HttpRequest) -> bool:
        return self._has_model_permission(request, "change")

    def has_disconnect_permission(self, request: HttpRequest) -> bool:
        return self._has_model_permission(request, "delete")

    def _has_model_permission(self, request: HttpRequest, action: str) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.{get_permission_codename(action, self.opts)}")

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # The admin silently ignores an action it does not offer; someone posting one they may not run is refused.
        requested = set(request.POST.getlist("action")) - {""}
        if request.method == "POST" and requested - set(self.get_actions(request)):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    @admin.action(description="Refresh tokens now", permissions=["refresh"])
    def refresh_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        connections = list(queryset)
        active = [c for c in connections if c.status == SmartcarConnection.Status.ACTIVE]
        queued = 0
        for connection in active:
            try:
                # Pinned to the version seen here: a duplicate delivery finds a newer version and does nothing.
                refresh_connection.delay_on_commit(connection.pk, if_version=connection.token_version)
            except OperationalError as exc:
                logger.warning(
                    "refresh now not queued connection_id=%s: broker unreachable (%s)",
                    connection.pk,
                    type(exc).__name__,
                )
                self.message_user(
                    request,
                    f"The task queue cannot be reached: queued a refresh for {queued} of {len(active)} "
                    "connection(s). Try again once it is back.",
                    messages.ERROR,
                )
                return
            self.log_change(request, connection, "Queued a refresh.")
            queued += 1
        self.message_user(request, f"Queued a refresh for {queued} connection(s).", messages.SUCCESS)
        if skipped := len(connections) - len(active):
            self.message_user(
                request,
                f"Skipped {skipped} connection(s) that are not active: only a new Connect by the owner revives them.",
                messages.WARNING,
            )

    @admin.action(description="Disconnect (revoke at Smartcar, then remove)", permissions=["disconnect"])
    def disconnect_connections(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        if request.POST.get("post") != "yes":
            return TemplateResponse(
                request,
                "admin/vehicles/smartcarconnection/disconnect_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Disconnect these Smartcar connections?",
                    "opts": self.opts,
                    "connections": queryset.prefetch_related("vehicles"),
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                    "media": self.media,
                },
            )
        disconnected = 0
        for connection in queryset:
            try:
                disconnect.disconnect_connection(connection=connection)
            except disconnect.DisconnectFailed as exc:
                self.message_user(request, f"{connection} is still connected: {exc}", messages.ERROR)
                continue
            # The row is gone but the instance keeps its pk and text, which is all the history entry needs.
            self.log_deletions(request, [connection])
            disconnected += 1
        if disconnected:
            self.message_user(request, f"Disconnected {disconnected} connection(s).", messages.SUCCESS)
        return None


@admin.register(Vehicle)
class VehicleAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("__str__", "vin", "owner_link", "connection_status", "data_fetched_at")
    list_display_links = ("__str__",)
    list_filter = ("make", "year", "connection__status")
    list_select_related = ("owner", "connection")
    search_fields = (
        "name",
        "make",
        "model",
        "smartcar_vehicle_id",
        "owner__email",
        "connection__smartcar_user_id",
        "vin",
    )
    search_help_text = "Name, make, model, Smartcar vehicle or user id, owner's email, or VIN."
    exclude = ("data",)
    fieldsets = (
        (None, {"fields": ("name", "make", "model", "year", "vin", "smartcar_vehicle_id")}),
        ("Owner and connection", {"fields": ("owner_link", "connection_link", "connection_status")}),
        ("Latest data", {"fields": ("data_fetched_at", "data_pushed_at", "car_state")}),
        ("Webhook", {"fields": ("webhook_subscribed_at", "webhook_error")}),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = helpers.flatten_fieldsets(fieldsets)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("owner", "connection").defer(*CONNECTION_TOKEN_FIELDS)

    @admin.display(description="owner", ordering="owner__email")
    def owner_link(self, vehicle: Vehicle) -> str:
        return admin_link(vehicle.owner)

    @admin.display(description="connection")
    def connection_link(self, vehicle: Vehicle) -> str:
        return admin_link(vehicle.connection)

    @admin.display(description="connection status", ordering="connection__status")
    def connection_status(self, vehicle: Vehicle) -> str:
        return admin_link(vehicle.connection, vehicle.connection.get_status_display())

    @admin.display(description="what Smartcar says the car cannot do")
    def car_state(self, vehicle: Vehicle) -> str:
        if not vehicle.state_error_type and not vehicle.state_error_code:
            return "nothing"
        since = f"{vehicle.state_error_at:%Y-%m-%d %H:%M} UTC" if vehicle.state_error_at else "a while"
        return f"{vehicle.state_error_type} / {vehicle.state_error_code}, since {since}"

    def render_change_form(self, request: HttpRequest, context: dict, *args, obj: Vehicle | None = None, **kwargs):
        # The car's facts as its owner reads them (metric), below the fields (change_form.html); the location to about
        # a kilometre unless the staff member may see it precisely.
        if obj is not None:
            context["facts"] = vehicle_facts(
                data=obj.data,
                scopes=obj.connection.scopes,
                units="metric",
                precise_location=request.user.has_perm("vehicles.view_precise_location"),
            )
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Smartcar's webhook deliveries as they were processed. Never the signature or a token; not the raw body either,
    which can hold a car's precise location."""

    list_display = ("received_at", "event_type", "smartcar_vehicle_id", "outcome", "detail", "processing_ms")
    list_filter = ("outcome", "event_type", ("received_at", admin.DateFieldListFilter))
    search_fields = ("event_id", "smartcar_vehicle_id")
    search_help_text = "Smartcar's event id or vehicle id."
    date_hierarchy = "received_at"
    fields = (
        "event_id",
        "event_type",
        "vehicle_link",
        "received_at",
        "processed_at",
        "outcome",
        "detail",
        "processing_ms",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).defer("body")

    @admin.display(description="vehicle", ordering="smartcar_vehicle_id")
    def vehicle_link(self, event: WebhookEvent) -> str:
        vehicle = Vehicle.objects.filter(smartcar_vehicle_id=event.smartcar_vehicle_id).order_by("pk").first()
        return admin_link(vehicle) if vehicle else (event.smartcar_vehicle_id or "—")


class UserAdmin(accounts_admin.UserAdmin):
    """The accounts app's user admin, with the person's connections and vehicles."""

    inlines = [*accounts_admin.UserAdmin.inlines, SmartcarConnectionInline, VehicleInline]

    def get_inlines(self, request: HttpRequest, obj: User | None) -> list:
        # Connections and vehicles only come from Smartcar Connect: a new user has none to show.
        return super().get_inlines(request, obj) if obj is not None else []

    def get_deleted_objects(self, objs: list[User] | QuerySet, request: HttpRequest) -> tuple:
        deletable, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        connections = SmartcarConnection.objects.filter(owner__in=objs).select_related("owner").defer(*TOKEN_FIELDS)
        if connections:
            # Deleting the rows would forget the tokens and leave the grants alive at Smartcar: an operator
            # disconnects first (which revokes there), and the connection admin's refusal to delete means that.
            protected = [
                *protected,
                *(format_html("Smartcar connection: {} (disconnect it first)", admin_link(c)) for c in connections),
            ]
            perms_needed -= {SmartcarConnection._meta.verbose_name, Vehicle._meta.verbose_name}
        return deletable, model_count, perms_needed, protected


# The accounts app knows nothing of vehicles: this app puts its inlines on the user's page itself.
admin.site.unregister(User)
admin.site.register(User, UserAdmin)
