"""The only module that talks to Smartcar: the official SDK, configured from settings, with its results turned
into our dataclasses (aware datetimes) and its failures into a few named errors."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookiejar import DefaultCookiePolicy
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import requests
import smartcar
import smartcar.config
import smartcar.helpers
from django.conf import settings
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from smartcar.exception import SmartcarException, exception_factory
from urllib3.exceptions import ConnectTimeoutError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Smartcar documents these lifetimes; the token endpoint only tells us the access token's.
ACCESS_TOKEN_LIFETIME = timedelta(hours=2)
REFRESH_TOKEN_LIFETIME = timedelta(days=60)
# The old refresh token keeps working for about this long after its first use: the time to recover a lost answer.
REFRESH_GRACE = timedelta(seconds=60)
VEHICLES_PAGE_SIZE = 50
# A runaway paging loop (a count that never matches) stops here: no account has this many cars.
MAX_VEHICLE_PAGES = 100
# Signal pages followed for one car: real cars report up to about 85 signals, 10 to a page by default.
MAX_SIGNAL_PAGES = 20


class SmartcarError(Exception):
    """Smartcar refused or failed. `user_message` is safe to show to the person; the message is for operators."""

    default_user_message = "Smartcar could not complete the request. Please try again in a moment."

    def __init__(
        self,
        message: str,
        *,
        user_message: str | None = None,
        status: int | None = None,
        error_type: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.user_message = user_message or self.default_user_message
        self.status = status
        self.error_type = error_type
        self.code = code


class ReauthRequired(SmartcarError):
    """The grant is dead (the token endpoint said invalid_grant): only a new Connect brings it back."""

    default_user_message = "Smartcar no longer accepts this connection. Please reconnect your car."


class AccessTokenRejected(SmartcarError):
    """The vehicle API refused the access token (401): refresh it once, then give up."""

    default_user_message = "Smartcar did not accept this connection's credentials. Please reconnect your car."


class AppMisconfigured(SmartcarError):
    """Smartcar rejected this application's own credentials (invalid_client): an operator must fix settings."""

    default_user_message = "This site cannot reach Smartcar right now. We have been alerted."


class PermissionMissing(SmartcarError):
    """The grant lacks the permission this call needs: the person must reconnect and approve it."""

    default_user_message = "This connection does not allow that. Reconnect your car to give the missing permission."


class VehicleUnavailable(SmartcarError):
    """The car cannot answer now (asleep, out of reach, a door open...): try later."""

    default_user_message = "Your car did not answer: it may be asleep or out of reach. Try again in a few minutes."


class Transient(SmartcarError):
    """Worth retrying: a network failure, a timeout, a 5xx, a malformed answer or a rate limit."""

    default_user_message = "Smartcar is not answering right now. Please try again in a few minutes."

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        unknown_outcome: bool = False,
        budget_exhausted: bool = False,
        **kwargs,
    ):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        # The request may have reached Smartcar and taken effect there (anything after it was sent: a 5xx, a reset,
        # a read timeout, a stalled or unparsable body): its effect is unknown. Otherwise it certainly did nothing.
        self.unknown_outcome = unknown_outcome
        # Nothing was sent: the caller's time budget (a web request's) was already spent.
        self.budget_exhausted = budget_exhausted


@dataclass(frozen=True)
class Tokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: datetime
    refresh_expires_at: datetime


@dataclass(frozen=True)
class Signal:
    """One v3 signal as the vehicle reported it; `body` holds its value(s) and unit. A signal the car could not give
    has a status other than SUCCESS and, usually, the error's type and code (e.g. VEHICLE_STATE / ASLEEP)."""

    code: str
    status: str
    body: dict
    retrieved_at: datetime | None
    oem_updated_at: datetime | None
    error_type: str = ""
    error_code: str = ""


@dataclass(frozen=True)
class VehicleAttributes:
    id: str
    make: str
    model: str
    year: int


# --- Bounding every HTTP call ------------------------------------------------------------------------------------

_deadline: ContextVar[float | None] = ContextVar("smartcar_deadline", default=None)
_timeout: ContextVar[float | None] = ContextVar("smartcar_timeout", default=None)


@contextlib.contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Bound the total time of every Smartcar call made inside the block (a web request must not wait long)."""
    deadline = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _deadline.reset(token)


def in_time_budget() -> bool:
    """Whether the calls made here are bounded by a caller's budget: someone (a web request) is waiting."""
    return _deadline.get() is not None


def remaining_budget() -> float | None:
    """Seconds left in the caller's time budget, or None without one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


@contextlib.contextmanager
def call_timeout(seconds: float) -> Iterator[None]:
    """Let each Smartcar call made inside the block wait up to `seconds` instead of SMARTCAR_HTTP_TIMEOUT (still
    within any time budget)."""
    token = _timeout.set(seconds)
    try:
        yield
    finally:
        _timeout.reset(token)


def _call_timeout() -> float:
    timeout = _timeout.get() or settings.SMARTCAR_HTTP_TIMEOUT
    deadline = _deadline.get()
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BudgetExhausted("time budget for Smartcar calls exhausted before sending")
        timeout = min(timeout, remaining)
    return timeout


class BudgetExhausted(requests.ConnectTimeout):
    """Raised before sending, when the caller's time budget is spent (nothing reached Smartcar)."""


@functools.cache
def _environment_proxies(origin: str) -> dict[str, str]:
    """The proxies the environment (HTTPS_PROXY, NO_PROXY, ...) gives this origin: read once per process, where
    requests would scan the whole environment twice on every call."""
    return requests.utils.get_environ_proxies(origin)


@functools.cache
def _environment_ca_bundle() -> str | bool:
    """REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, as requests reads them; True (its own bundle) when neither is set."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


class _BoundedRequests:
    """Stands in for `requests` inside the SDK, which calls `requests.request()` for everything: each call is bounded
    (the SDK would wait up to 310 seconds) and goes through a session kept per thread, so that connections to Smartcar
    stay open between calls instead of costing a TCP and TLS handshake each. The session keeps no cookies: nothing
    but the open connections passes from one call, or one user, to the next. What requests takes from the environment
    (proxies, CA bundle) is read once per process rather than on every call; ~/.netrc is never read (its password
    would replace the SDK's Authorization header)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __getattr__(self, name: str):
        return getattr(requests, name)

    def _session(self) -> requests.Session:
        local = self._local
        # A process forked from one that already had a session must not share its sockets.
        if getattr(local, "pid", None) != os.getpid():
            session = requests.Session()
            session.trust_env = False
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            local.session, local.pid = session, os.getpid()
        return local.session

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        kwargs["timeout"] = _call_timeout()
        parts = urlsplit(url)
        kwargs.setdefault("proxies", _environment_proxies(f"{parts.scheme}://{parts.netloc}"))
        kwargs.setdefault("verify", _environment_ca_bundle())
        return self._session().request(method, url, **kwargs)


_bounded_requests = _BoundedRequests()
smartcar.helpers.requests = _bounded_requests


def _configure_origins() -> None:
    # The SDK reads its origins from the environment once, at import; it looks them up in smartcar.config at
    # call time, so setting them here makes Django settings the single source.
    smartcar.config.CONNECT_ORIGIN = settings.SMARTCAR_CONNECT_ORIGIN
    smartcar.config.AUTH_ORIGIN = settings.SMARTCAR_AUTH_ORIGIN
    smartcar.config.API_ORIGIN = settings.SMARTCAR_API_ORIGIN
    smartcar.config.VEHICLE_API_ORIGIN = settings.SMARTCAR_VEHICLE_API_V3_ORIGIN


# --- Errors ------------------------------------------------------------------------------------------------------


def _retry_after(value: object) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _nothing_sent(cause: BaseException | None) -> bool:
    """Whether a failed HTTP call certainly never reached Smartcar: our budget was spent before sending, or the
    connection could not be made (refused, unresolvable name, connect timeout). Everything else (a reset, a read
    timeout, a stalled or truncated body) happened after the request may have been handled."""
    if isinstance(cause, BudgetExhausted | requests.ConnectTimeout):
        return True
    if isinstance(cause, requests.ConnectionError) and not isinstance(cause, requests.ReadTimeout):
        reason = cause.args[0] if cause.args else None
        # urllib3's MaxRetryError carries the failure as its reason; NewConnectionError and NameResolutionError are
        # ConnectTimeoutErrors too.
        return isinstance(getattr(reason, "reason", reason), ConnectTimeoutError)
    return False


def _translate(exc: SmartcarException) -> SmartcarError:
    status = getattr(exc, "status_code", None)
    error_type = getattr(exc, "type", None)
    code = getattr(exc, "code", None)
    user_message = getattr(exc, "suggested_user_message", None)
    details = {"status": status, "error_type": error_type, "code": code, "user_message": user_message}
    # Only names and numbers go into messages: bodies can be whole HTML pages.
    described = f"Smartcar error status={status} type={error_type} code={code}"

    if status is None and error_type is None:
        # The SDK wraps network failures as a bare "SDK_ERROR"; the cause tells what happened.
        cause = exc.__cause__
        if isinstance(cause, BudgetExhausted):
            return Transient("Time budget for Smartcar spent", budget_exhausted=True)
        if _nothing_sent(cause):
            return Transient(f"Smartcar unreachable: {type(cause).__name__}")
        return Transient(f"No complete answer from Smartcar: {type(cause).__name__}", unknown_outcome=True)
    if error_type == "invalid_grant":
        return ReauthRequired(described, **details)
    if error_type == "invalid_client":
        return AppMisconfigured(described, **details)
    if status == 401 or error_type == "AUTHENTICATION":
        return AccessTokenRejected(described, **details)
    if status == 403 or error_type == "PERMISSION":
        return PermissionMissing(described, **details)
    if error_type == "VEHICLE_STATE":
        return VehicleUnavailable(described, **details)
    if status == 429 or error_type == "RATE_LIMIT":
        # Smartcar's rate limiter answers before the request is handled: nothing happened.
        return Transient(described, retry_after=_retry_after(getattr(exc, "retry_after", None)), **details)
    if status is not None and status >= 500:
        # Smartcar, or a proxy in front of it, may have handled the request before failing (a 500 after rotating the
        # tokens, a 504 from a gateway that gave up waiting). The SDK drops the headers of a non-JSON answer, so not
        # even a 503's Retry-After tells us otherwise.
        return Transient(described, unknown_outcome=True, **details)
    return SmartcarError(described, **details)


# Error pages and reports show local variables; these hold tokens (the SDK's own results print them).
@sensitive_variables()
def _call(operation: str, function: Callable[[], T]) -> T:
    _configure_origins()
    try:
        return function()
    except SmartcarException as exc:
        error = _translate(exc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # The SDK parses some malformed answers (a 200 with a body that is not JSON, or not the expected JSON) into raw
        # exceptions instead of its own. Smartcar answered, so it may have done what was asked.
        error = Transient(f"Malformed answer from Smartcar: {type(exc).__name__}", unknown_outcome=True)
    logger.warning("smartcar %s failed: %s (%s)", operation, error, type(error).__name__)
    raise error


# --- Calls -------------------------------------------------------------------------------------------------------


def _auth_client() -> smartcar.AuthClient:
    return smartcar.AuthClient(
        client_id=settings.SMARTCAR_CLIENT_ID,
        client_secret=settings.SMARTCAR_CLIENT_SECRET,
        redirect_uri=settings.SMARTCAR_REDIRECT_URI,
        mode=settings.SMARTCAR_MODE,
    )


def authorization_url(*, state: str, scopes: list[str], make: str | None = None) -> str:
    """The Connect URL to send the browser to; with `make`, Connect skips its brand list (the SDK's `make_bypass`)."""
    _configure_origins()
    options = {"state": state}
    if make:
        options["make_bypass"] = make
    return _auth_client().get_auth_url(scopes, options)


@sensitive_variables()
def _tokens(access, started: datetime) -> Tokens:
    return Tokens(
        access_token=access.access_token,
        refresh_token=access.refresh_token,
        # Counted from before the request was sent, so the stored expiry is never later than the real one.
        access_expires_at=started + timedelta(seconds=int(access.expires_in)),
        refresh_expires_at=started + REFRESH_TOKEN_LIFETIME,
    )


@sensitive_variables()
def exchange_code(*, code: str) -> Tokens:
    """Trade an authorization code for tokens. Called once per code: a code is never retried."""
    started = timezone.now()
    access = _call("exchange_code", lambda: _auth_client().exchange_code(code))
    return _call("exchange_code", lambda: _tokens(access, started))


@sensitive_variables()
def refresh_tokens(*, refresh_token: str) -> Tokens:
    """Trade a refresh token for a new pair (Smartcar rotates both)."""
    started = timezone.now()
    access = _call("refresh", lambda: _auth_client().exchange_refresh_token(refresh_token))
    return _call("refresh", lambda: _tokens(access, started))


def get_user_id(*, access_token: str) -> str:
    return str(_call("get_user", lambda: smartcar.get_user(access_token)).id)


def list_vehicle_ids(*, access_token: str) -> list[str]:
    """Every vehicle id in the grant, across pages."""
    ids: list[str] = []
    for _ in range(MAX_VEHICLE_PAGES):
        paging = {"limit": VEHICLES_PAGE_SIZE, "offset": len(ids)}
        page = _call("get_vehicles", lambda paging=paging: smartcar.get_vehicles(access_token, paging))
        ids.extend(str(vehicle_id) for vehicle_id in page.vehicles)
        if not page.vehicles or len(ids) >= int(page.paging.count):
            return ids
    raise SmartcarError("Smartcar's vehicle list did not end")


def _vehicle(vehicle_id: str, access_token: str, unit_system: str = "metric") -> smartcar.Vehicle:
    # The unit system goes to the constructor: Vehicle.set_unit_system() always raises.
    return smartcar.Vehicle(vehicle_id, access_token, {"unit_system": unit_system})


def get_attributes(*, access_token: str, vehicle_id: str) -> VehicleAttributes:
    attributes = _call("attributes", lambda: _vehicle(vehicle_id, access_token).attributes())
    return VehicleAttributes(
        id=str(attributes.id), make=str(attributes.make), model=str(attributes.model), year=int(attributes.year)
    )


def subscribe_webhook(*, access_token: str, vehicle_id: str, webhook_id: str) -> None:
    """Subscribe one car to the application's webhook (v2.0, with the vehicle's token)."""
    _call("subscribe", lambda: _vehicle(vehicle_id, access_token).subscribe(webhook_id))


@sensitive_variables()
def unsubscribe_webhook(*, management_token: str, vehicle_id: str, webhook_id: str) -> None:
    """Unsubscribe one car from the webhook (v2.0, with the application management token)."""
    _call("unsubscribe", lambda: _vehicle(vehicle_id, "").unsubscribe(management_token, webhook_id))


def disconnect_vehicle(*, access_token: str, vehicle_id: str) -> None:
    """Revoke this application's access to one vehicle."""
    _call("disconnect", lambda: _vehicle(vehicle_id, access_token).disconnect())


def epoch_ms(value: object) -> datetime | None:
    """A v3 timestamp: epoch milliseconds (Smartcar's docs and SDK fixtures, e.g. 1752104218549)."""
    try:
        return datetime.fromtimestamp(float(value) / 1000, tz=UTC) if value is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _signal(resource: dict) -> Signal:
    attributes = resource.get("attributes") or {}
    meta = resource.get("meta") or {}
    status = attributes.get("status") or {}
    error = status.get("error") or {}
    return Signal(
        code=str(attributes.get("code") or resource.get("id") or ""),
        status=str(status.get("value") or "UNKNOWN"),
        body=attributes.get("body") or {},
        retrieved_at=epoch_ms(meta.get("retrievedAt")),
        oem_updated_at=epoch_ms(meta.get("oemUpdatedAt")),
        error_type=str(error.get("type") or ""),
        error_code=str(error.get("code") or ""),
    )


def _http(method: str, url: str, **kwargs) -> requests.Response:
    """One call the SDK cannot make (v3 paging and commands, the IAM token): through the same bounded, kept-alive
    session as the SDK's calls, its failures raised as the SDK raises them, so that _call translates them alike."""
    try:
        response = _bounded_requests.request(method, url, **kwargs)
    except requests.RequestException as exc:
        raise SmartcarException(message="SDK_ERROR") from exc
    if not response.ok:
        raise exception_factory(response.status_code, response.headers, response.text)
    return response


def _v3(method: str, path: str, *, access_token: str, user_id: str | None, params: dict | None = None) -> dict:
    """The v3 vehicle API. With API Authentication, `access_token` is the application's and `user_id` (sent as
    `sc-user-id`) names whose car it is."""
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    if user_id:
        headers["sc-user-id"] = user_id
    return _http(method, _v3_url(path), headers=headers, params=params).json()


def _v3_url(path: str) -> str:
    return f"{settings.SMARTCAR_VEHICLE_API_V3_ORIGIN.rstrip('/')}{path}"


def _v3_pages(
    operation: str,
    path: str,
    *,
    access_token: str,
    user_id: str | None,
    max_pages: int,
    params: dict | None = None,
    unfinished: str | None = None,
) -> list[dict]:
    """Every resource of a paged v3 collection from `params` on, following `links.next`. Bounded: cut short, the pages
    read are returned and the log says so, or, where a partial list would be taken for the whole, `unfinished` is
    raised."""
    resources: list[dict] = []
    for _ in range(max_pages):
        body = _call(
            operation,
            lambda params=params: _v3("GET", path, access_token=access_token, user_id=user_id, params=params),
        )
        resources.extend(body.get("data") or [])
        following = (body.get("links") or {}).get("next")
        if not following:
            return resources
        # The link is relative; only its query (page, pageSize) matters, on the path we already know.
        params = {name: values[-1] for name, values in parse_qs(urlsplit(following).query).items()}
    if unfinished:
        raise SmartcarError(unfinished)
    logger.warning("%s stopped after %d pages (%d resources)", operation, max_pages, len(resources))
    return resources


def get_signals(*, access_token: str, vehicle_id: str, user_id: str | None = None) -> list[Signal]:
    """Every signal the grant lets the car report (v3), page after page, in metric units."""
    resources = _v3_pages(
        "get_signals",
        f"/v3/vehicles/{vehicle_id}/signals",
        access_token=access_token,
        user_id=user_id,
        max_pages=MAX_SIGNAL_PAGES,
    )
    return [_signal(resource) for resource in resources]


def _connections(*, access_token: str, **filters: str) -> list[dict]:
    """The application's connections (API Authentication: smartcar.com/docs/api-reference/get-connection), filtered
    by `userId` and/or `vehicleId`, every page."""
    # The list decides which cars stay connected here: one cut short must not pass for the whole.
    return _v3_pages(
        "connections",
        "/v3/connections",
        access_token=access_token,
        user_id=None,
        max_pages=MAX_VEHICLE_PAGES,
        params={f"filter[{name}]": value for name, value in filters.items()},
        unfinished="Smartcar's connection list did not end",
    )


def list_vehicles(*, access_token: str, user_id: str) -> list[VehicleAttributes]:
    """The cars a Smartcar user connected to this application (API Authentication), with make, model and year."""
    resources = _connections(access_token=access_token, userId=user_id)

    def attributes(resource: dict) -> VehicleAttributes:
        vehicle = resource["relationships"]["vehicle"]["data"]
        fields = (resource.get("attributes") or {}).get("vehicle") or {}
        return VehicleAttributes(
            id=str(vehicle["id"]), make=str(fields["make"]), model=str(fields["model"]), year=int(fields["year"])
        )

    return _call("connections", lambda: [attributes(resource) for resource in resources])


def remove_connection(*, access_token: str, user_id: str, vehicle_id: str) -> None:
    """Revoke this application's access to one person's car (API Authentication: delete its connection)."""
    for resource in _connections(access_token=access_token, userId=user_id, vehicleId=vehicle_id):
        path = f"/v3/connections/{resource['id']}"
        _call("disconnect", lambda path=path: _http_v3_delete(path, access_token=access_token))


def _http_v3_delete(path: str, *, access_token: str) -> None:
    _http("DELETE", _v3_url(path), headers={"Authorization": f"Bearer {access_token}"})


@dataclass(frozen=True)
class ApplicationToken:
    access_token: str = field(repr=False)
    expires_at: datetime


@sensitive_variables()
def mint_application_token() -> ApplicationToken:
    """A new application token from Smartcar's IAM endpoint (client credentials; no refresh token)."""
    started = timezone.now()
    form = {
        "grant_type": "client_credentials",
        "client_id": settings.SMARTCAR_API_CLIENT_ID,
        "client_secret": settings.SMARTCAR_API_CLIENT_SECRET,
    }

    def mint() -> ApplicationToken:
        body = _http("POST", settings.SMARTCAR_IAM_TOKEN_URL, data=form).json()
        return ApplicationToken(
            access_token=str(body["access_token"]), expires_at=started + timedelta(seconds=int(body["expires_in"]))
        )

    return _call("application_token", mint)


COMMANDS = {
    "lock": lambda vehicle: vehicle.lock(),
    "unlock": lambda vehicle: vehicle.unlock(),
    "start_charge": lambda vehicle: vehicle.start_charge(),
    "stop_charge": lambda vehicle: vehicle.stop_charge(),
}


# The v3 command paths (smartcar.com/docs/api-reference/security/lock-doors and charge/start-charge).
V3_COMMANDS = {
    "lock": "security/lock",
    "unlock": "security/unlock",
    "start_charge": "charge/start",
    "stop_charge": "charge/stop",
}


def send_command(*, access_token: str, vehicle_id: str, action: str, user_id: str | None = None) -> str:
    """Send a command: on v2.0 through the SDK with the vehicle's token, or, with API Authentication (`user_id`), on
    v3, which the SDK cannot do. Returns Smartcar's message."""
    if user_id:
        path = f"/v3/vehicles/{vehicle_id}/commands/{V3_COMMANDS[action]}"
        body = _call(action, lambda: _v3("POST", path, access_token=access_token, user_id=user_id))
        status = ((body.get("data") or {}).get("attributes") or {}).get("status") or {}
        return str(status.get("value") or "")
    command = COMMANDS[action]
    result = _call(action, lambda: command(_vehicle(vehicle_id, access_token)))
    return str(getattr(result, "message", "") or "")
