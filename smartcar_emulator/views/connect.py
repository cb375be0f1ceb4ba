"""Connect: brand list, login, vehicle selection and permissions, ending in a redirect to the application."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from smartcar_emulator import clock, fleet, services
from smartcar_emulator.models import EmulatedVehicle, EmulatorUser
from smartcar_emulator.permissions import describe, parse_scope, supports

FLOW_SALT = "smartcar_emulator.connect"
# A person has half an hour to click through Connect before the flow expires.
FLOW_MAX_AGE = 30 * 60


class ConnectError(Exception):
    """Something wrong with the request itself: shown as an error page, never redirected."""


def _error_page(request: HttpRequest, message: str, *, status: int = 400) -> HttpResponse:
    return render(request, "smartcar_emulator/error.html", {"message": message}, status=status)


def _redirect(flow: dict, **params: str) -> HttpResponseRedirect:
    if flow.get("state"):
        params["state"] = flow["state"]
    separator = "&" if "?" in flow["redirect_uri"] else "?"
    return HttpResponseRedirect(f"{flow['redirect_uri']}{separator}{urlencode(params)}")


def _error_redirect(flow: dict, error: str, description: str, **extra: str) -> HttpResponseRedirect:
    return _redirect(flow, error=error, error_description=description, **extra)


def _load_flow(request: HttpRequest) -> dict:
    try:
        return signing.loads(request.POST.get("flow", ""), salt=FLOW_SALT, max_age=FLOW_MAX_AGE)
    except signing.BadSignature as exc:
        raise ConnectError("This Connect session has expired or is invalid. Please start again.") from exc


def _dump_flow(flow: dict) -> str:
    return signing.dumps(flow, salt=FLOW_SALT)


def _parse_authorize(params) -> dict:
    client_id = params.get("client_id", "")
    if client_id != settings.SMARTCAR_EMULATOR_CLIENT_ID:
        raise ConnectError("Unknown application: check the client_id.")
    redirect_uri = params.get("redirect_uri") or settings.SMARTCAR_EMULATOR_REDIRECT_URIS[0]
    if redirect_uri not in settings.SMARTCAR_EMULATOR_REDIRECT_URIS:
        raise ConnectError("This redirect_uri is not registered for the application.")
    if params.get("response_type") != "code":
        raise ConnectError("response_type must be code.")
    mode = params.get("mode", "live")
    if mode not in ("test", "simulated", "live"):
        raise ConnectError("mode must be one of test, simulated or live.")
    scopes, required, malformed = parse_scope(params.get("scope", "") or "read_vehicle_info")
    if malformed:
        raise ConnectError(f"Unknown permission: {', '.join(malformed)}.")
    return {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scopes": scopes,
        "required": required,
        "state": params.get("state", ""),
        "approval_prompt": "force" if params.get("approval_prompt") == "force" else "auto",
        "mode": mode,
        "single_select": params.get("single_select") == "true" or bool(params.get("single_select_vin")),
        "single_select_vin": params.get("single_select_vin", ""),
        "make": (params.get("make") or "").upper(),
    }


@require_GET
def authorize(request: HttpRequest) -> HttpResponse:
    try:
        flow = _parse_authorize(request.GET)
    except ConnectError as exc:
        return _error_page(request, str(exc))
    context = {"flow": _dump_flow(flow), "app_name": "Application", "makes": fleet.MAKES, "make": flow["make"]}
    if flow["make"]:
        return render(request, "smartcar_emulator/login.html", context)
    return render(request, "smartcar_emulator/brands.html", context)


@require_POST
def login(request: HttpRequest) -> HttpResponse:
    try:
        flow = _load_flow(request)
    except ConnectError as exc:
        return _error_page(request, str(exc))
    if "make" in request.POST and "username" not in request.POST:
        # The brand list posts here with the chosen make: show the login form for it.
        flow["make"] = request.POST["make"].upper()
        return render(request, "smartcar_emulator/login.html", {"flow": _dump_flow(flow), "make": flow["make"]})
    username = request.POST.get("username", "").strip()
    if not username or not request.POST.get("password"):
        context = {"flow": _dump_flow(flow), "make": flow["make"], "error": "Enter any username and password."}
        return render(request, "smartcar_emulator/login.html", context, status=400)

    user = fleet.user_with_fleet(username=username, now=clock.now())
    vehicles = list(user.vehicles.all())
    kind = fleet.special_kind(username)
    if kind == fleet.NO_VEHICLES or not vehicles:
        return _error_redirect(flow, "no_vehicles", "No vehicles found for this account.")
    if kind == fleet.VEHICLE_INCOMPATIBLE:
        car = vehicles[0]
        return _error_redirect(
            flow,
            "vehicle_incompatible",
            "The vehicle is not compatible with this application.",
            vin=car.vin,
            make=car.make,
            model=car.model,
            year=str(car.year),
        )
    if flow["single_select_vin"]:
        vehicles = [car for car in vehicles if car.vin == flow["single_select_vin"]]
        if not vehicles:
            return _error_redirect(flow, "no_vehicles", "No vehicle with this VIN was found on the account.")
    eligible = [car for car in vehicles if all(supports(car, scope) for scope in flow["required"])]
    if not eligible:
        car = vehicles[0]
        return _error_redirect(
            flow,
            "vehicle_incompatible",
            "The vehicle is not compatible with the required permissions.",
            vin=car.vin,
            make=car.make,
            model=car.model,
            year=str(car.year),
        )
    flow["user_id"] = user.pk

    if flow["approval_prompt"] == "auto" and not flow["single_select"]:
        grant = services.find_existing_grant(user=user, client_id=flow["client_id"], scopes=flow["scopes"])
        if grant is not None:
            return _approve(flow, user, list(grant.vehicles.all()))
    return render(request, "smartcar_emulator/vehicles.html", _selection_context(flow, vehicles, eligible))


def _selection_context(flow: dict, vehicles: list[EmulatedVehicle], eligible: list[EmulatedVehicle]) -> dict:
    return {
        "flow": _dump_flow(flow),
        "cars": [{"vehicle": car, "eligible": car in eligible} for car in vehicles],
        "single_select": flow["single_select"],
        "permissions": [
            {"name": scope, "description": describe(scope), "required": scope in flow["required"]}
            for scope in flow["scopes"]
        ],
    }


@require_POST
def decide(request: HttpRequest) -> HttpResponse:
    try:
        flow = _load_flow(request)
    except ConnectError as exc:
        return _error_page(request, str(exc))
    action = request.POST.get("action")
    if action == "deny":
        return _error_redirect(flow, "access_denied", "User denied access to application.")
    if action == "back":
        return _error_redirect(
            flow, "user_manually_returned_to_application", "User returned to the application before approving."
        )
    if action != "approve" or "user_id" not in flow:
        return _error_page(request, "This Connect session is incomplete. Please start again.")
    user = EmulatorUser.objects.get(pk=flow["user_id"])
    chosen = set(request.POST.getlist("vehicle"))
    vehicles = [
        car
        for car in user.vehicles.all()
        if str(car.vehicle_id) in chosen
        and all(supports(car, scope) for scope in flow["required"])
        and (not flow["single_select_vin"] or car.vin == flow["single_select_vin"])
    ]
    if not vehicles or (flow["single_select"] and len(vehicles) > 1):
        everything = list(user.vehicles.all())
        eligible = [car for car in everything if all(supports(car, scope) for scope in flow["required"])]
        if flow["single_select_vin"]:
            everything = [car for car in everything if car.vin == flow["single_select_vin"]]
        context = _selection_context(flow, everything, eligible)
        context["error"] = "Select one vehicle." if flow["single_select"] else "Select at least one vehicle."
        return render(request, "smartcar_emulator/vehicles.html", context, status=400)
    return _approve(flow, user, vehicles)


def _approve(flow: dict, user: EmulatorUser, vehicles: list[EmulatedVehicle]) -> HttpResponseRedirect:
    code = services.issue_code(
        user=user,
        client_id=flow["client_id"],
        redirect_uri=flow["redirect_uri"],
        scopes=flow["scopes"],
        vehicles=vehicles,
    )
    # user_id is what API Authentication keeps (as sc-user-id); per-vehicle tokens exchange the code instead.
    return _redirect(flow, code=code, user_id=str(user.smartcar_id))
