"""A small page that says what the emulator is and where its parts live."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from smartcar_emulator import fleet


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    context = {
        "client_id": settings.SMARTCAR_EMULATOR_CLIENT_ID,
        "api_client_id": settings.SMARTCAR_EMULATOR_API_CLIENT_ID,
        "redirect_uris": settings.SMARTCAR_EMULATOR_REDIRECT_URIS,
        "special_usernames": fleet.SPECIAL_USERNAMES,
        "base": request.build_absolute_uri(reverse("smartcar_emulator:index")).rstrip("/"),
    }
    return render(request, "smartcar_emulator/index.html", context)
