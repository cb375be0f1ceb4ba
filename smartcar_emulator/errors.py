"""Error bodies exactly as Smartcar shapes them: OAuth errors for the token endpoints, v2 errors for the API, and v3
(JSON:API `errors`) for calls made with the application token."""

from __future__ import annotations

import uuid

from django.http import JsonResponse

DOC_URL = "https://smartcar.com/docs/errors/api-errors"

# type -> (HTTP status, resolution, default description)
ERROR_TYPES: dict[str, tuple[int, str | None, str]] = {
    # Word for word as smartcar.com/docs/errors/api-errors/authentication-errors documents it (the SDK's end-to-end
    # suite compares the message), with resolution null.
    "AUTHENTICATION": (
        401,
        None,
        "The authorization header is missing or malformed, or it contains invalid or expired authentication "
        "credentials. Please check for missing parameters, spelling and casing mistakes, and other syntax issues.",
    ),
    "PERMISSION": (
        403,
        "REAUTHENTICATE",
        "Your application has insufficient permissions to access the requested resource.",
    ),
    "VALIDATION": (400, None, "Request invalid or malformed. Please check for missing parameters or wrong values."),
    "RESOURCE_NOT_FOUND": (404, None, "The requested resource does not exist."),
    # Resolution null, as smartcar.com/docs/errors/api-errors/vehicle-state-errors shows (ASLEEP and others).
    "VEHICLE_STATE": (409, None, "The vehicle was unable to perform the request in its current state."),
    "RATE_LIMIT": (429, "RETRY_LATER", "You have reached the throttling rate limit for this vehicle."),
    "CONNECTED_SERVICES_ACCOUNT": (
        400,
        "CONTACT_SUPPORT",
        "There is an issue with the vehicle owner's connected services account.",
    ),
    "UPSTREAM": (502, "RETRY_LATER", "The vehicle manufacturer's servers could not process the request."),
    "SERVER": (500, "RETRY_LATER", "Smartcar experienced an unexpected error."),
    "COMPATIBILITY": (501, None, "This vehicle does not support the requested feature."),
}

DESCRIPTIONS: dict[tuple[str, str | None], str] = {
    ("RESOURCE_NOT_FOUND", "PATH"): "The requested resource does not exist. Please check the path and try again.",
    ("RESOURCE_NOT_FOUND", "VERSION"): "The requested version of the Smartcar API does not exist.",
    ("VEHICLE_STATE", "ASLEEP"): "The vehicle is in a sleep state and temporarily unable to perform your request.",
    ("VEHICLE_STATE", "UNREACHABLE"): "The vehicle is outside network coverage and cannot be reached.",
    ("VEHICLE_STATE", "DOOR_OPEN"): "Unable to lock the vehicle while a door is open.",
    ("RATE_LIMIT", "SMARTCAR_API"): "You have reached the rate limit for your Smartcar application.",
    ("AUTHENTICATION", "UNAUTHORIZED"): "The Authorization token is missing or invalid.",
    ("AUTHENTICATION", "ACCESS_DENIED"): "The given token does not provide access to the requested resource.",
    ("COMPATIBILITY", "VEHICLE_NOT_CAPABLE"): "The vehicle is incapable of performing your request.",
    ("SERVER", "INTERNAL"): "Smartcar experienced an unexpected error.",
}

USER_MESSAGES = {
    "VEHICLE_STATE": "Your car is unavailable right now. Please try again later.",
    "RATE_LIMIT": "Your car is busy. Please try again in a little while.",
    "UPSTREAM": "Your car's manufacturer is having trouble. Please try again later.",
    "SERVER": "Something went wrong. Please try again later.",
    "AUTHENTICATION": "Please reconnect your car.",
    "PERMISSION": "Please reconnect your car and allow the new permissions.",
}


class ApiError(Exception):
    """An API error to answer with; views raise it and the API decorator renders it in v2's shape or v3's."""

    def __init__(
        self,
        error_type: str,
        code: str | None = None,
        *,
        description: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        default_status, self.resolution, default_description = ERROR_TYPES.get(
            error_type, (status or 500, None, "The request failed.")
        )
        self.error_type = error_type
        self.code = code or None
        self.status = status or default_status
        self.description = description or DESCRIPTIONS.get((error_type, self.code)) or default_description
        self.retry_after = retry_after
        super().__init__(f"{error_type}:{code}")

    def body(self, request_id: str) -> dict:
        body = {
            "type": self.error_type,
            "code": self.code,
            "description": self.description,
            "docURL": self.doc_url(),
            "statusCode": self.status,
            "requestId": request_id,
            "resolution": {"type": self.resolution},
        }
        if self.error_type in USER_MESSAGES:
            body["suggestedUserMessage"] = USER_MESSAGES[self.error_type]
        return body

    def title(self) -> str:
        """The code in words: ACCESS_DENIED reads Access Denied."""
        return (self.code or self.error_type).replace("_", " ").title()

    def doc_url(self) -> str:
        """Where Smartcar documents this error, e.g. …/api-errors/vehicle-state-errors#asleep."""
        page = self.error_type.lower().replace("_", "-")
        anchor = (self.code or "null").lower().replace("_", "-")
        return f"{DOC_URL}/{page}-errors#{anchor}"

    def v3_error(self) -> dict:
        """A signal's error inside a 200, as a captured v3 answer shows it (wbyoung/smartcar,
        tests/fixtures/api/vw_id_4.ok.v3.json)."""
        return {
            "type": self.error_type,
            "code": self.code,
            "title": self.title(),
            "detail": self.description,
            "description": "Deprecated. Use detail",
            "resolution": {"type": self.resolution},
        }

    def response(self, request_id: str, *, v3: bool = False) -> JsonResponse:
        if v3:
            # The members' fields as smartcar.com/docs/errors/api-errors/v3/authentication-errors shows them.
            member = {
                "links": {"about": self.doc_url()},
                "status": str(self.status),
                "type": self.error_type,
                "code": self.code,
                "title": self.title(),
                "detail": self.description,
            }
            response = JsonResponse({"errors": [member]}, status=self.status)
        else:
            response = JsonResponse(self.body(request_id), status=self.status)
        if self.retry_after is not None:
            response["Retry-After"] = str(self.retry_after)
        return response


def new_request_id() -> str:
    return str(uuid.uuid4())


def oauth_error(error: str, description: str, *, status: int = 400) -> JsonResponse:
    """OAuth errors always carry error_description: the SDK cannot parse one without it."""
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Basic realm="smartcar"'
    return response
