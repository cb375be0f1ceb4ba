"""The project's URLs plus two trivial signed-in views, the floors the vehicles page is compared with: a plain-text
answer (sessions, the user, the middleware) and an empty page in the site's layout (that, plus base.html)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path
from django.views.decorators.http import require_GET

from config.urls import urlpatterns as project_urlpatterns

EMPTY_PAGE = engines["django"].from_string(
    '{% extends "base.html" %}{% block content %}<h1>Signed in</h1>{% endblock %}'
)


@login_required
@require_GET
def signed_in_text(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"Signed in as user {request.user.pk}.", content_type="text/plain")


@login_required
@require_GET
def signed_in_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(EMPTY_PAGE.render({}, request))


urlpatterns = [
    path("bench/signed-in.txt", signed_in_text, name="bench-signed-in-text"),
    path("bench/signed-in", signed_in_page, name="bench-signed-in-page"),
    *project_urlpatterns,
]
