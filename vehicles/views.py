from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from vehicles import charts
from vehicles.models import SmartcarConnection, Vehicle, VehicleCommand
from vehicles.presentation import (
    COMMAND_DONE,
    Glance,
    glance,
    last_reported,
    offered_commands,
    reconnect_path,
    state_message,
    vehicle_facts,
)
from vehicles.services import history, webhooks
from vehicles.services.commands import send_command
from vehicles.services.connect import ConnectFailed, StateRejected, finish_connect, start_connect
from vehicles.services.disconnect import DisconnectFailed, Outcome, disconnect_vehicle
from vehicles.services.vehicle_data import SYNC_PENDING_FOR, SyncNotQueued, VehicleBusy, request_sync
from vehicles.smartcar_client import SmartcarError

# The vehicle page draws this much history.
HISTORY_DAYS = 30


class NameForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=Vehicle._meta.get_field("name").max_length,
        required=False,
        help_text="Leave it empty for the year, make and model, and the end of the car's identification number.",
    )

    def __init__(self, *args, placeholder: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs["placeholder"] = placeholder


def owned_vehicle(request: HttpRequest, pk: int) -> Vehicle:
    """The signed-in user's vehicle, or 404: another user's vehicle does not exist for them."""
    return get_object_or_404(Vehicle.objects.select_related("connection"), pk=pk, owner=request.user)


def is_pending(vehicle: Vehicle) -> bool:
    """Whether a fetch of the car's data is under way (queued lately and not landed)."""
    requested = vehicle.sync_requested_at
    return requested is not None and requested > timezone.now() - SYNC_PENDING_FOR


@dataclass(frozen=True)
class Car:
    """A car on the garage overview."""

    vehicle: Vehicle
    glances: list[Glance]
    reported_at: datetime | None
    pending: bool
    needs_reconnecting: bool
    # Only a car that needs reconnecting offers the link.
    reconnect_url: str = ""


def garage(request: HttpRequest) -> list[Car]:
    """The signed-in person's cars for the overview, from one query."""
    cars = []
    for vehicle in Vehicle.objects.filter(owner=request.user).for_table():
        signals = {code: signal for code, signal in vehicle.overview_signals.items() if signal}
        needs_reconnecting = vehicle.connection.status == SmartcarConnection.Status.NEEDS_REAUTH
        cars.append(
            Car(
                vehicle=vehicle,
                glances=glance(signals=signals, scopes=vehicle.connection.scopes, units=request.user.unit_system),
                reported_at=last_reported(signals) or vehicle.data_fetched_at,
                pending=is_pending(vehicle),
                needs_reconnecting=needs_reconnecting,
                reconnect_url=reconnect_path(vehicle) if needs_reconnecting else "",
            )
        )
    return cars


def garage_context(request: HttpRequest) -> dict:
    """What the overview (/vehicles/ and the home page) shows."""
    cars = garage(request)
    return {
        "cars": cars,
        "pending_count": sum(car.pending for car in cars),
        "needing_reconnect": [car for car in cars if car.needs_reconnecting],
    }


@login_required
@require_GET
def connect(request: HttpRequest) -> HttpResponse:
    try:
        url = start_connect(user=request.user, return_to=request.GET.get("next"), make=request.GET.get("make"))
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
            result = finish_connect(
                user=request.user,
                state=request.GET.get("state"),
                code=request.GET.get("code"),
                error=request.GET.get("error"),
                smartcar_user_id=request.GET.get("user_id"),
            )
        except ConnectFailed as exc:
            # The message offers to start again (base.html turns the tag into a button).
            messages.error(request, str(exc), extra_tags="connect-again" if isinstance(exc, StateRejected) else "")
            response = redirect("vehicles:list")
        else:
            count = result.vehicle_count
            verb = "reconnected" if result.reconnected else "connected"
            if count is None:
                messages.warning(
                    request,
                    f"Your Smartcar account is {verb}, but Smartcar did not list its cars yet. "
                    "They will appear here in a few minutes.",
                )
            else:
                noun = "vehicle" if count == 1 else "vehicles"
                messages.success(request, f"{count} {noun} {verb}.")
            response = redirect(result.return_to or "vehicles:list")
    # The callback URL carries the authorization code: keep it out of the Referer of whatever loads next.
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_GET
def vehicle_list(request: HttpRequest) -> HttpResponse:
    return render(request, "vehicles/list.html", garage_context(request))


@never_cache
@login_required
@require_GET
def garage_live(request: HttpRequest) -> JsonResponse:
    """The overview's cars as the page shows them, for its script to put in place what landed."""
    context = garage_context(request)
    # A part still pending is not put in place by the script: only what landed is drawn.
    parts = {
        f"car-{car.vehicle.pk}": {
            "pending": car.pending,
            "html": "" if car.pending else render_to_string("vehicles/_car_body.html", {"car": car}, request=request),
        }
        for car in context["cars"]
    }
    pending = context["pending_count"]
    message = (
        f"Asking {pending} car{'s' if pending != 1 else ''} for {'their' if pending != 1 else 'its'} data…"
        if pending
        else "Every car has reported."
    )
    return JsonResponse({"parts": parts, "message": message})


def vehicle_context(request: HttpRequest, vehicle: Vehicle) -> dict:
    """What the vehicle page shows below its name."""
    signals = vehicle.data.get("signals", {})
    scopes = vehicle.connection.scopes
    offers, notes = offered_commands(signals=signals, scopes=scopes)
    units = request.user.unit_system
    return {
        "vehicle": vehicle,
        "pending": is_pending(vehicle),
        "glances": glance(signals=signals, scopes=scopes, units=units),
        "reported_at": last_reported(signals) or vehicle.data_fetched_at,
        "facts": vehicle_facts(data=vehicle.data, scopes=scopes, units=units),
        "state_message": state_message(error_type=vehicle.state_error_type, error_code=vehicle.state_error_code),
        "missing_scopes": [scope for scope in settings.SMARTCAR_SCOPES if scope not in scopes],
        "needs_reconnecting": vehicle.connection.status == SmartcarConnection.Status.NEEDS_REAUTH,
        "reconnect_url": reconnect_path(vehicle),
        "offers": offers,
        "command_notes": notes,
        "can_command": any(scope.startswith("control_") for scope in scopes),
        "commands": vehicle.commands.select_related("requested_by")[:5],
        "charts": charts.history_charts(
            readings=history.recent(vehicle=vehicle, days=HISTORY_DAYS), units=units, days=HISTORY_DAYS
        ),
        "history_days": HISTORY_DAYS,
    }


@login_required
@require_GET
def vehicle_detail(request: HttpRequest, pk: int) -> HttpResponse:
    vehicle = owned_vehicle(request, pk)
    context = vehicle_context(request, vehicle)
    context["name_form"] = NameForm(initial={"name": vehicle.name}, placeholder=vehicle.default_name)
    return render(request, "vehicles/detail.html", context)


@never_cache
@login_required
@require_GET
def vehicle_live(request: HttpRequest, pk: int) -> JsonResponse:
    """The vehicle page's data part as the page shows it, for its script to put in place once the data landed."""
    vehicle = owned_vehicle(request, pk)
    if is_pending(vehicle):
        # Asked every two seconds while the car is being asked: nothing to draw until its data lands.
        return JsonResponse({"parts": {"vehicle-live": {"pending": True, "html": ""}}, "message": "Asking your car…"})
    html = render_to_string("vehicles/_vehicle_live.html", vehicle_context(request, vehicle), request=request)
    return JsonResponse(
        {"parts": {"vehicle-live": {"pending": False, "html": html}}, "message": "Your car's latest data is shown."}
    )


@login_required
@require_POST
def rename(request: HttpRequest, pk: int) -> HttpResponse:
    vehicle = owned_vehicle(request, pk)
    form = NameForm(request.POST, placeholder=vehicle.default_name)
    if not form.is_valid():
        context = vehicle_context(request, vehicle)
        context["name_form"] = form
        return render(request, "vehicles/detail.html", context, status=400)
    vehicle.name = form.cleaned_data["name"].strip()
    vehicle.save(update_fields=["name", "updated_at"])
    messages.success(request, f"The car is now called {vehicle}.")
    return redirect("vehicles:detail", pk=pk)


@login_required
@require_POST
def refresh(request: HttpRequest, pk: int) -> HttpResponse:
    vehicle = owned_vehicle(request, pk)
    try:
        request_sync(vehicle=vehicle)
    except VehicleBusy as exc:
        messages.warning(request, str(exc))
    except SyncNotQueued:
        messages.error(request, "The fetch could not be queued right now. Please try again in a minute.")
    else:
        messages.info(request, "Asking the car for its latest data. This page updates when it arrives.")
    return redirect("vehicles:detail", pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def command(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    vehicle = owned_vehicle(request, pk)
    if action not in VehicleCommand.Action.values:
        raise Http404("No such command.")
    label = VehicleCommand.Action(action).label
    if request.method == "POST":
        record = send_command(vehicle=vehicle, user=request.user, action=action)
        if record.outcome == VehicleCommand.Outcome.SUCCEEDED:
            messages.success(request, f"{label}: {COMMAND_DONE[action]}")
        else:
            messages.error(request, f"{label} failed: {record.message}")
        return redirect("vehicles:detail", pk=pk)
    return render(request, "vehicles/command.html", {"vehicle": vehicle, "action": action, "label": label})


@login_required
@require_http_methods(["GET", "POST"])
def disconnect(request: HttpRequest, pk: int) -> HttpResponse:
    vehicle = owned_vehicle(request, pk)
    if request.method == "POST":
        try:
            outcome = disconnect_vehicle(vehicle=vehicle)
        except DisconnectFailed as exc:
            messages.error(request, f"{vehicle} is still connected: {exc}")
            return redirect("vehicles:detail", pk=pk)
        if outcome == Outcome.KEPT_AT_SMARTCAR:
            messages.success(
                request,
                f"{vehicle} was removed from your account with its data. Another account here still uses this car, "
                "so its access through Smartcar stays on for that account.",
            )
        else:
            messages.success(request, f"{vehicle} was disconnected and its data removed.")
        return redirect("vehicles:list")
    return render(request, "vehicles/disconnect.html", {"vehicle": vehicle})


# Smartcar signs its deliveries instead of sending a CSRF token: the signature is the check (webhooks.receive).
@csrf_exempt
@require_POST
def smartcar_webhook(request: HttpRequest) -> JsonResponse:
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > webhooks.MAX_BODY_BYTES:
        return JsonResponse({"error": "body too large"}, status=413)
    # Read at most one byte past the cap, whatever the header said (a chunked body has none).
    body = request.read(webhooks.MAX_BODY_BYTES + 1)
    if len(body) > webhooks.MAX_BODY_BYTES:
        return JsonResponse({"error": "body too large"}, status=413)
    answer = webhooks.receive(body=body, signature=request.headers.get("SC-Signature"))
    return JsonResponse(answer.body, status=answer.status)
