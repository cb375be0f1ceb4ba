from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.health import Check, check_beat, run_checks
from vehicles.views import garage_context


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", garage_context(request) if request.user.is_authenticated else {})


def _health_response(checks: list[Check]) -> JsonResponse:
    healthy = all(check.ok for check in checks)
    body = {
        "status": "ok" if healthy else "degraded",
        "checks": {
            check.name: {"ok": check.ok, **({"error": check.error} if check.error else {}), **check.details}
            for check in checks
        },
    }
    return JsonResponse(body, status=200 if healthy else 503)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return _health_response(run_checks())


# Apart from /healthz on purpose: a stopped beat must page someone, but must not take web processes out of the
# load balancer, which is what a failing /healthz does.
@never_cache
@require_GET
def healthz_beat(request: HttpRequest) -> JsonResponse:
    return _health_response([check_beat()])
