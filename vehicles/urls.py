from __future__ import annotations

from django.urls import path

from vehicles import views

app_name = "vehicles"

urlpatterns = [
    path("", views.vehicle_list, name="list"),
    path("live", views.garage_live, name="live"),
    path("<int:pk>/", views.vehicle_detail, name="detail"),
    path("<int:pk>/live", views.vehicle_live, name="detail-live"),
    path("<int:pk>/name", views.rename, name="rename"),
    path("<int:pk>/disconnect", views.disconnect, name="disconnect"),
    path("<int:pk>/refresh", views.refresh, name="refresh"),
    path("<int:pk>/commands/<str:action>", views.command, name="command"),
]
