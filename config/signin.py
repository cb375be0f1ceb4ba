"""Sign-in throttling with django-axes: who is signing in, from where, and the page a locked-out person sees."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def username(request: HttpRequest, credentials: dict | None = None) -> str:
    """The email address being tried, as the login matches it (in any case), so that ALICE@ and alice@ share a
    count of failures."""
    value = (credentials or {}).get("username") or request.POST.get("username") or ""
    return value.strip().lower()


def client_ip(request: HttpRequest) -> str:
    """The address the request came from: with DJANGO_TRUSTED_PROXY_COUNT proxies in front, the one the outermost
    proxy saw (each proxy appends to X-Forwarded-For, so entries further left are the client's to invent)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """The sign-in page again (the site's or the admin's), empty, with a message saying why and for how long."""
    minutes = settings.AXES_COOLOFF_TIME.total_seconds() // 60
    message = (
        f"Too many failed sign-ins for this email address from your network. Wait {minutes:.0f} minutes, "
        "then try again."
    )
    if not isinstance(original_response, TemplateResponse) or "form" not in (original_response.context_data or {}):
        return HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    messages.error(request, message)
    form = original_response.context_data["form"]
    context = {**original_response.context_data, "form": type(form)(request, initial={"username": username(request)})}
    return TemplateResponse(request, original_response.template_name, context, status=429).render()
