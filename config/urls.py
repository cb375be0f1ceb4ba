"""The project's URLs; app URLs live in each app's urls.py."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config import views
from vehicles import views as vehicle_views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/beat", views.healthz_beat, name="healthz-beat"),
    path("accounts/", include("accounts.urls")),
    # The Smartcar tutorial's paths: /login starts Connect, /exchange is the redirect URI.
    path("login", vehicle_views.connect, name="connect"),
    path("exchange", vehicle_views.exchange, name="exchange"),
    path("vehicle", RedirectView.as_view(pattern_name="vehicles:list", permanent=False)),
    path("vehicles/", include("vehicles.urls")),
    path("webhooks/smartcar/", vehicle_views.smartcar_webhook, name="smartcar-webhook"),
    path(settings.ADMIN_URL, admin.site.urls),
]

if settings.SMARTCAR_EMULATOR:
    urlpatterns.append(path("emulator/", include("smartcar_emulator.urls")))
