"""The project's URLs; app URLs live in each app's urls.py."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from config import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path(settings.ADMIN_URL, admin.site.urls),
]

if settings.SMARTCAR_EMULATOR:
    urlpatterns.append(path("emulator/", include("smartcar_emulator.urls")))
