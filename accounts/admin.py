from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.forms import AdminAddUserForm, AdminChangeUserForm, AdminSignInForm
from accounts.models import User
from vehicles.admin import TOKEN_FIELDS, SmartcarConnectionInline, VehicleInline, admin_link
from vehicles.models import SmartcarConnection, Vehicle

# The admin signs people in through its own form; it must check the address as the site's sign-in does.
admin.site.login_form = AdminSignInForm


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = AdminChangeUserForm
    add_form = AdminAddUserForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)
    list_display = ("email", "first_name", "last_name", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)
    readonly_fields = ("last_login", "date_joined")
    inlines = [SmartcarConnectionInline, VehicleInline]

    def get_inlines(self, request: HttpRequest, obj: User | None) -> list:
        # Connections and vehicles only come from Smartcar Connect: a new user has none to show.
        return self.inlines if obj is not None else []

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
