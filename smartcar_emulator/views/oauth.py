"""The token endpoint: authorization codes and refresh tokens for token pairs, with OAuth-shaped errors."""

from __future__ import annotations

import base64
import binascii

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from smartcar_emulator import services
from smartcar_emulator.errors import new_request_id, oauth_error


def basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, separator, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (client_id, secret) if separator else None


def _log(request: HttpRequest, response: JsonResponse, outcome: str, token: str = "") -> JsonResponse:
    request_id = new_request_id()
    response["SC-Request-Id"] = request_id
    services.log_request(
        method=request.method,
        path=request.path,
        token=token,
        vehicle_id="",
        status_code=response.status_code,
        outcome=outcome,
        request_id=request_id,
    )
    return response


@csrf_exempt
@require_POST
def token(request: HttpRequest) -> JsonResponse:
    credentials = basic_credentials(request)
    if credentials is None or not services.client_is_valid(*credentials):
        response = oauth_error("invalid_client", "Invalid client id or secret.", status=401)
        return _log(request, response, "invalid_client")
    client_id = credentials[0]
    grant_type = request.POST.get("grant_type", "")
    try:
        if grant_type == "authorization_code":
            secret = request.POST.get("code", "")
            issued = services.exchange_code(
                client_id=client_id, code=secret, redirect_uri=request.POST.get("redirect_uri")
            )
        elif grant_type == "refresh_token":
            secret = request.POST.get("refresh_token", "")
            issued = services.refresh(client_id=client_id, refresh_token=secret)
        else:
            response = oauth_error("unsupported_grant_type", f"Unsupported grant_type: {grant_type}.")
            return _log(request, response, "unsupported_grant_type")
    except services.TokenError as exc:
        return _log(request, oauth_error(exc.error, exc.description), exc.error, secret)
    body = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token,
    }
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    return _log(request, response, grant_type, secret)
