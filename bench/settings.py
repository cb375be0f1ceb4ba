"""The test settings, with the application and the emulator in two databases of their own and a bench URLconf."""

from __future__ import annotations

from config.settings.test import *  # noqa: F403
from config.settings.test import DATABASES, env

# Separate databases let the harness tell our PostgreSQL work (garage_bench) from the emulator's, which stands in for
# Smartcar (garage_bench_emulator), by the database name in each server process's title.
DATABASES["default"]["NAME"] = env.str("BENCH_APP_DATABASE", default="garage_bench")
DATABASES["emulator"] = {
    **DATABASES["default"],
    "NAME": env.str("BENCH_EMULATOR_DATABASE", default="garage_bench_emulator"),
}
# A second copy of the application's tables, for the due scan's small table while the large one fills the first.
DATABASES["scan_small"] = {**DATABASES["default"], "NAME": env.str("BENCH_SCAN_DATABASE", default="garage_bench_scan")}
DATABASE_ROUTERS = ["smartcar_emulator.routers.EmulatorRouter"]

ROOT_URLCONF = "bench.urls"

# Lines go to each process's log file under the bench's temporary folder, as they would go to a log collector.
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")
