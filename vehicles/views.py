from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from vehicles import services
from vehicles.models import Vehicle
from vehicles.smartcar_client import SmartcarError


def owned_vehicle(request: HttpRequest, pk: int) -> Vehicle:
    """The signed-in user's vehicle, or 404: another user's vehicle does not exist for them."""
    return get_object_or_404(Vehicle.objects.select_related("connection"), pk=pk, owner=request.user)


@login_required
@require_GET
def connect(request: HttpRequest) -> HttpResponse:
    try:
        url = services.start_connect(user=request.user, return_to=request.GET.get("next"))
    except SmartcarError as exc:
        messages.error(request, exc.user_message)
        return redirect("vehicles:list")
    return redirect(url)


@never_cache
@require_GET
def exchange(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        # The state is bound to a signed-in user; without one nothing can be checked, so nothing is done.
        messages.error(request, "Please sign in, then connect your car again.")
        response = redirect("accounts:login")
    else:
        try:
            result = services.finish_connect(
                user=request.user,
                state=request.GET.get("state"),
                code=request.GET.get("code"),
                error=request.GET.get("error"),
            )
        except services.ConnectFailed as exc:
            messages.error(request, str(exc))
            response = redirect("vehicles:list")
        else:
            count = result.vehicle_count
            noun = "vehicle" if count == 1 else "vehicles"
            verb = "reconnected" if result.reconnected else "connected"
            messages.success(request, f"{count} {noun} {verb}.")
            response = redirect(result.return_to or "vehicles:list")
    # The callback URL carries the authorization code: keep it out of the Referer of whatever loads next.
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_GET
def vehicle_list(request: HttpRequest) -> HttpResponse:
    vehicles = Vehicle.objects.filter(owner=request.user).select_related("connection")
    return render(request, "vehicles/list.html", {"vehicles": vehicles})


@login_required
@require_GET
def vehicle_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "vehicles/detail.html", {"vehicle": owned_vehicle(request, pk)})


@login_required
@require_http_methods(["GET", "POST"])
def disconnect(request: HttpRequest, pk: int) -> HttpResponse:
    vehicle = owned_vehicle(request, pk)
    if request.method == "POST":
        try:
            services.disconnect_vehicle(vehicle=vehicle)
        except services.DisconnectFailed as exc:
            messages.error(request, f"{vehicle} is still connected: {exc}")
            return redirect("vehicles:detail", pk=pk)
        messages.success(request, f"{vehicle} was disconnected and its data removed.")
        return redirect("vehicles:list")
    return render(request, "vehicles/disconnect.html", {"vehicle": vehicle})
