from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from vehicles.models import Vehicle, VehicleCommand
from vehicles.presentation import can_charge, state_message, vehicle_facts
from vehicles.services import webhooks
from vehicles.services.commands import send_command
from vehicles.services.connect import ConnectFailed, finish_connect, start_connect
from vehicles.services.disconnect import DisconnectFailed, disconnect_vehicle
from vehicles.services.vehicle_data import SYNC_PENDING_FOR, SyncNotQueued, VehicleBusy, request_sync
from vehicles.smartcar_client import SmartcarError


def owned_vehicle(request: HttpRequest, pk: int) -> Vehicle:
    """The signed-in user's vehicle, or 404: another user's vehicle does not exist for them."""
    return get_object_or_404(Vehicle.objects.select_related("connection"), pk=pk, owner=request.user)


@login_required
@require_GET
def connect(request: HttpRequest) -> HttpResponse:
    try:
        url = start_connect(user=request.user, return_to=request.GET.get("next"))
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
            messages.error(request, str(exc))
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
    vehicles = Vehicle.objects.filter(owner=request.user).for_table()
    return render(request, "vehicles/list.html", {"vehicles": vehicles})


@login_required
@require_GET
def vehicle_detail(request: HttpRequest, pk: int) -> HttpResponse:
    vehicle = owned_vehicle(request, pk)
    scopes = vehicle.connection.scopes
    pending = vehicle.sync_requested_at is not None and vehicle.sync_requested_at > timezone.now() - SYNC_PENDING_FOR
    context = {
        "vehicle": vehicle,
        "facts": vehicle_facts(
            data=vehicle.data,
            scopes=scopes,
            units=request.user.unit_system,
            fetched=vehicle.data_fetched_at is not None,
        ),
        "sync_pending": pending,
        "state_message": state_message(error_type=vehicle.state_error_type, error_code=vehicle.state_error_code),
        "missing_scopes": [scope for scope in settings.SMARTCAR_SCOPES if scope not in scopes],
        "can_lock": "control_security" in scopes,
        "can_charge": "control_charge" in scopes and can_charge(vehicle.data),
        "commands": vehicle.commands.all()[:5],
    }
    return render(request, "vehicles/detail.html", context)


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
            messages.success(request, f"{label}: {record.message}")
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
            disconnect_vehicle(vehicle=vehicle)
        except DisconnectFailed as exc:
            messages.error(request, f"{vehicle} is still connected: {exc}")
            return redirect("vehicles:detail", pk=pk)
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
