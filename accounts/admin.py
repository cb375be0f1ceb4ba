"""People in the admin, and the admin's sign-in form."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.forms import AdminAddUserForm, AdminChangeUserForm, AdminSignInForm
from accounts.models import User

# The admin signs people in through its own form; it must check the address as the site's sign-in does.
admin.site.login_form = AdminSignInForm
# Support staff work here: the product's name, not Django's.
admin.site.site_header = f"{settings.SITE_NAME} support"
admin.site.site_title = f"{settings.SITE_NAME} support"
admin.site.index_title = "People, connections and cars"
# A few models, reached from the index and the breadcrumbs: the lists get the whole width of a laptop's screen.
admin.site.enable_nav_sidebar = False


# Apps that keep things of a person's subclass and re-register this for the user's page (as vehicles.admin does).
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
