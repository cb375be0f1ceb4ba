"""The token endpoints, with OAuth-shaped errors: Connect's codes and refresh tokens for a vehicle's token pair; and
IAM's client credentials for the application token of API Authentication."""

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


@csrf_exempt
@require_POST
def iam_token(request: HttpRequest) -> JsonResponse:
    """POST {IAM}/oauth2/token with grant_type=client_credentials and the API client's id and secret as form fields
    (smartcar.com/docs/api-reference/authorization/request-access-token); HTTP Basic works too, as OAuth allows."""
    client_id, client_secret = request.POST.get("client_id", ""), request.POST.get("client_secret", "")
    if not client_id and (credentials := basic_credentials(request)):
        client_id, client_secret = credentials
    grant_type = request.POST.get("grant_type", "")
    if not grant_type:
        response = oauth_error("invalid_request", "Missing grant_type.")
        return _log(request, response, "invalid_request")
    if not services.api_client_is_valid(client_id, client_secret):
        response = oauth_error("invalid_client", "Invalid client_id or client_secret.", status=401)
        return _log(request, response, "invalid_client")
    if grant_type != "client_credentials":
        response = oauth_error("unsupported_grant_type", f"Unsupported grant_type: {grant_type}.")
        return _log(request, response, "unsupported_grant_type")
    token, expires_in = services.issue_application_token(api_client_id=client_id)
    # No refresh token: the application asks for a new token before the hour is over.
    response = JsonResponse({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})
    response["Cache-Control"] = "no-store"
    return _log(request, response, grant_type, token)
