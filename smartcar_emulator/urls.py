from __future__ import annotations

app_name = "smartcar_emulator"

urlpatterns: list = []
