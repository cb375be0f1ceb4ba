"""The project's URLs; app URLs live in each app's urls.py."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponseServerError
from django.template.loader import render_to_string
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


def server_error(request: HttpRequest) -> HttpResponseServerError:
    """The 500 page in the site's layout, rendered from the site's name alone: whatever failed (the database, the
    session store) is not asked again. Django's own 400, 403 and 404 views render 400.html, 403.html and 404.html."""
    return HttpResponseServerError(render_to_string("500.html", {"site_name": settings.SITE_NAME}))


handler500 = server_error
