from __future__ import annotations

from django.urls import path

from smartcar_emulator.views import api_v2, api_v3, connect, control, index, oauth

app_name = "smartcar_emulator"

urlpatterns = [
    path("", index.index, name="index"),
    path("connect/oauth/authorize", connect.authorize, name="authorize"),
    path("connect/login", connect.login, name="login"),
    path("connect/decide", connect.decide, name="decide"),
    path("auth/oauth/token", oauth.token, name="token"),
    path("iam/oauth2/token", oauth.iam_token, name="iam-token"),
    path("api/<path:rest>", api_v2.dispatch, name="api"),
    path("vehicle-api/v3/vehicles/<str:vehicle_id>", api_v3.vehicle, name="v3-vehicle"),
    path("vehicle-api/v3/vehicles/<str:vehicle_id>/signals", api_v3.signals, name="v3-signals"),
    path("vehicle-api/v3/vehicles/<str:vehicle_id>/signals/<str:code>", api_v3.signal, name="v3-signal"),
    path("vehicle-api/v3/vehicles/<str:vehicle_id>/commands/<path:name>", api_v3.command, name="v3-command"),
    path("vehicle-api/v3/connections", api_v3.connections, name="v3-connections"),
    path("vehicle-api/v3/connections/<str:connection_id>", api_v3.connection, name="v3-connection"),
    path("vehicle-api/v3/users/<str:user_id>", api_v3.user, name="v3-user"),
    path("vehicle-api/<path:rest>", api_v3.not_found, name="v3-not-found"),
    path("control/clock", control.clock_view, name="control-clock"),
    path("control/faults", control.faults, name="control-faults"),
    path("control/faults/<int:pk>", control.fault_detail, name="control-fault"),
    path("control/requests", control.request_log, name="control-requests"),
    path("control/rate-limits", control.rate_limits, name="control-rate-limits"),
    path("control/users/<str:username>/vehicles", control.user_fleet, name="control-fleet"),
    path("control/vehicles/<str:vehicle_id>", control.vehicle_detail, name="control-vehicle"),
    path("control/vehicles/<str:vehicle_id>/<str:action>", control.vehicle_action, name="control-vehicle-action"),
    path("control/webhooks", control.webhook_list, name="control-webhooks"),
    path("control/webhooks/<str:webhook_id>", control.webhook_detail, name="control-webhook"),
    path("control/webhooks/<str:webhook_id>/verify", control.webhook_verify, name="control-webhook-verify"),
    path("control/deliveries", control.delivery_log, name="control-deliveries"),
    path("control/refresh-tokens/check", control.refresh_token_check, name="control-refresh-token-check"),
    path("control/application", control.application, name="control-application"),
    path("control/reset", control.reset, name="control-reset"),
]
