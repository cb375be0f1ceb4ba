"""docs/benchmarks.md from the results of one `make bench`."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from django.conf import settings

from bench import pages
from bench.refresh import STEADY
from bench.stats import fmt, median, spread
from bench.webhooks import PROFILE as WEBHOOKS_PROFILE

# The page target holds for up to this many cars; larger tables are reported for context.
PAGE_TARGET_CARS = 10
REFRESHES_PER_SECOND = 100
WORKER_RSS_MB = 200
SDK_RATIO = 0.9
DELIVERIES_PER_SECOND = 500
DELIVERY_P99_MS = 50
# Capacity is planned with each process busy at most half the time: a sweep's batch is done in half a sweep interval,
# and a slower Smartcar (which stretches every call) is absorbed.
PLANNED_USE = 0.5
USERS = (100_000, 1_000_000)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _counts() -> str:
    *first, last = pages.CAR_COUNTS
    return f"{', '.join(map(str, first))} and {last}"


def _rate(run, whole: bool) -> float:
    return run.per_second if whole else run.steady_per_second


def _calls(count: int) -> str:
    return f"{count} token call{'' if count == 1 else 's'}"


def _per_day(value: float) -> str:
    return f"{value:.2f}" if value < 1 else f"{value:.1f}"


class Report:
    def __init__(self, results) -> None:
        self.results = results
        self.options = results.options
        self.pairs = self._pairs()

    # --- derived numbers ---------------------------------------------------------------------------------------

    def _pairs(self) -> list[tuple]:
        """(pipeline, sdk) runs of the same repetition at the measured concurrency, which ran side by side."""
        runs = {
            (run.repetition, run.kind): run
            for run in self.results.runs
            if run.in_flight == self.options.concurrency and run.kind in ("pipeline", "sdk")
        }
        return [
            (runs[repetition, "pipeline"], runs[repetition, "sdk"])
            for repetition, kind in sorted(runs)
            if kind == "pipeline" and (repetition, "sdk") in runs
        ]

    def context_runs(self) -> list:
        return [run for run in self.results.runs if run.in_flight != self.options.concurrency]

    @staticmethod
    def cpu_ms(pipeline, sdk) -> dict[str, float]:
        """CPU per refresh: the worker process, our share of PostgreSQL (the pipeline's PostgreSQL time less the
        emulator's, measured in the paired SDK run), Redis; the bare SDK loop's process; the emulator's."""
        parts = {
            "worker": pipeline.ms(pipeline.cpu.worker),
            "PostgreSQL (ours)": max(0.0, pipeline.database_ms - sdk.database_ms),
            "Redis": pipeline.ms(pipeline.cpu.redis),
        }
        parts["ours"] = sum(parts.values())
        parts["bare SDK loop"] = sdk.ms(sdk.client_cpu)
        parts["emulator"] = pipeline.ms(pipeline.cpu.emulator)
        return parts

    def rates(self, *, whole: bool = False) -> list[float]:
        """The pipeline's refreshes a second in its steady state, or (whole) over the whole sweep."""
        return [_rate(pipeline, whole) for pipeline, _ in self.pairs]

    def ratios(self, *, whole: bool = False) -> list[float]:
        return [_rate(pipeline, whole) / _rate(sdk, whole) for pipeline, sdk in self.pairs]

    @staticmethod
    def agrees(day) -> bool:
        """The simulated day made the calls the schedule predicts, within 10 % or one call."""
        expected = day.computed * day.connections
        return abs(day.calls - expected) <= max(1.0, 0.1 * expected)

    def worker_memory(self) -> dict | None:
        key = f"worker, {self.options.concurrency} threads, after the sweeps"
        return self.results.memory.get(key)

    def day(self, name_start: str):
        return next(day for day in self.results.days if day.scenario.name.startswith(name_start))

    def loads(self, name: str) -> list[float]:
        return [load.per_second for _, load in self.results.loads if load.page == name]

    def page_ratios(self, name: str, floor: str, *, by_cpu: bool = False) -> list[float]:
        """Per round: the page's requests per second over the floor's, or (by_cpu) the floor's CPU per request over
        the page's, which is the throughput ratio the two would have with the CPU to themselves."""
        by_round: dict[int, dict[str, float]] = {}
        for round_number, load in self.results.loads:
            by_round.setdefault(round_number, {})[load.page] = 1 / load.server_cpu_ms if by_cpu else load.per_second
        return [each[name] / each[floor] for each in by_round.values() if name in each and floor in each]

    def row_cpu_us(self) -> float | None:
        """The web's CPU per car on /vehicles/: the page with the most cars less the page with the fewest, per car."""
        fewest, most = pages.CAR_COUNTS[0], pages.CAR_COUNTS[-1]
        cpu = {}
        for count in (fewest, most):
            name = f"/vehicles/ with {count}"
            cpu[count] = [load.server_cpu_ms for _, load in self.results.loads if load.page == name]
        if not cpu[fewest] or not cpu[most]:
            return None
        return 1000 * (median(cpu[most]) - median(cpu[fewest])) / (most - fewest)

    def scan(self, rows: int, due: int | None = None):
        return next(s for s in self.results.scans if s.rows == rows and (due is None or s.due == due))

    # --- sections ----------------------------------------------------------------------------------------------

    def summary(self) -> str:
        o = self.options
        rows = []
        rates, ratios = self.rates(), self.ratios()
        memory = self.worker_memory()
        rows.append(
            [
                f"refreshes a second from one worker process ({o.concurrency} threads) at {o.latency_ms} ms, sustained",
                f"≥ {REFRESHES_PER_SECOND}",
                fmt(median(rates)),
                spread(rates),
                _met(median(rates) >= REFRESHES_PER_SECOND),
            ]
        )
        whole = self.rates(whole=True)
        rows.append(
            [
                f"the same over whole sweeps of {o.connections:,}, ramp-up and last batches included",
                "(context)",
                fmt(median(whole)),
                spread(whole),
                "—",
            ]
        )
        rows.append(
            [
                "that process's resident size (RSS), the largest it reached",
                f"< {WORKER_RSS_MB} MB",
                f"{fmt(memory['peak_rss'])} MB",
                "over every sweep",
                _met(memory["peak_rss"] < WORKER_RSS_MB),
            ]
        )
        rows.append(
            [
                f"refresh pipeline ÷ bare SDK, both {o.concurrency} calls in flight, at {o.latency_ms} ms, sustained",
                f"≥ {SDK_RATIO}",
                fmt(median(ratios)),
                spread(ratios),
                _met(median(ratios) >= SDK_RATIO),
            ]
        )
        whole = self.ratios(whole=True)
        rows.append(
            ["the same over whole runs", "(context)", fmt(median(whole)), spread(whole), "—"],
        )
        for day in self.results.days:
            rows.append(
                [
                    f"token calls per connection per day, {day.scenario.name}",
                    f"computed: {_per_day(day.computed)}",
                    f"simulated: {_per_day(day.simulated)}",
                    f"{_calls(day.calls)}, {day.connections} connections",
                    "agrees" if self.agrees(day) else "**differs**",
                ]
            )
        deliveries = [load.per_second for load in self.results.webhook_loads]
        p99 = [load.p99_ms for load in self.results.webhook_loads]
        rows.append(
            [
                "webhook deliveries accepted a second, one web process",
                f"≥ {DELIVERIES_PER_SECOND}",
                fmt(median(deliveries)),
                spread(deliveries),
                _met(median(deliveries) >= DELIVERIES_PER_SECOND),
            ]
        )
        rows.append(
            [
                f"their p99 latency ({o.webhook_connections} connections)",
                f"< {DELIVERY_P99_MS} ms",
                f"{fmt(median(p99))} ms",
                spread(p99),
                _met(median(p99) < DELIVERY_P99_MS),
            ]
        )
        rows += self.page_rows()
        rows += self.scan_rows()
        return _table(["target", "goal", "measured (median)", "spread (min-max)", "verdict"], rows)

    def page_rows(self) -> list[list[str]]:
        queries = self.results.queries
        tables = [f"/vehicles/ with {count}" for count in pages.CAR_COUNTS]
        rows = [
            [
                f"queries: /vehicles/ with {_counts()} vehicles",
                "equal",
                " and ".join(str(queries[name]) for name in tables),
                "exact",
                _met(len({queries[name] for name in tables}) == 1),
            ]
        ]
        for count, name in zip(pages.CAR_COUNTS, tables, strict=True):
            values = self.page_ratios(name, pages.PAGE_FLOOR)
            judged = count <= PAGE_TARGET_CARS
            rows.append(
                [
                    f"{name} ÷ trivial signed-in page, requests/s",
                    "≥ 0.6" if judged else "(context)",
                    fmt(median(values)),
                    spread(values),
                    _met(median(values) >= 0.6) if judged else "—",
                ]
            )
        # Any other page bench/pages.py measures (a car's own page), for context.
        others = [name for name in dict.fromkeys(load.page for _, load in self.results.loads) if name not in tables]
        for name in others:
            if name in (pages.PAGE_FLOOR, pages.TEXT_FLOOR):
                continue
            values = self.page_ratios(name, pages.PAGE_FLOOR)
            rows.append(
                [f"{name} ÷ trivial signed-in page, requests/s", "(context)", fmt(median(values)), spread(values), "—"]
            )
        for name in tables:
            values = self.page_ratios(name, pages.PAGE_FLOOR, by_cpu=True)
            rows.append(
                [
                    f"{name} ÷ trivial page, by server CPU per request",
                    "(context)",
                    fmt(median(values)),
                    spread(values),
                    "—",
                ]
            )
        return rows

    def scan_rows(self) -> list[list[str]]:
        small, large = self.options.scan_rows
        scan_small, scan_large = self.scan(small), self.scan(large, self.scan(small).due)
        rows = []
        # The query's own time, from EXPLAIN ANALYZE; the function's adds the round trip and Python, and this
        # machine's noise.
        for label, small_times, large_times, judged in (
            ("query time (EXPLAIN ANALYZE)", scan_small.execution_ms, scan_large.execution_ms, True),
            ("due_connection_ids() in Python", scan_small.seconds, scan_large.seconds, False),
        ):
            ratio = median(large_times) / median(small_times)
            paired = [b / a for a, b in zip(sorted(small_times), sorted(large_times), strict=False)]
            scale = 1 if judged else 1000
            rows.append(
                [
                    f"due scan, {label}, {large:,} ÷ {small:,} connections ({scan_small.due:,} due)",
                    "≤ 1.5" if judged else "(context)",
                    f"{fmt(ratio)} ({fmt(scale * median(small_times))} → {fmt(scale * median(large_times))} ms)",
                    spread(paired),
                    _met(ratio <= 1.5) if judged else "—",
                ]
            )
        return rows

    def method(self) -> str:
        o = self.options
        small, large = o.scan_rows
        return f"""\
Everything runs on this one machine, on loopback, under `scripts/with-test-services` (a throwaway PostgreSQL and
Redis), with `DJANGO_SETTINGS_MODULE=bench.settings` (the test settings, plus a database of its own for the
emulator so that its PostgreSQL time can be told from ours, and a URLconf with two trivial signed-in views).
Machines like this one are noisy and shared, so every comparison is made of pairs run side by side, alternating
which goes first, and reported as the median of the per-pair ratios with the range.

1. **Refreshes from one worker process.** The emulator runs under gunicorn ({o.emulator_workers} processes x
   {o.emulator_threads} threads, `gthread`: more threads than calls in flight, so that it never caps them) on
   PostgreSQL, its rate limits off; its token endpoint answers after {o.latency_ms} ms, a sleep in a WSGI wrapper of
   the bench's (`bench/emulator_wsgi.py`) that holds its thread as a slow Smartcar holds a connection. N =
   {o.connections:,} connections hold real refresh tokens issued by the emulator. The pipeline: all N made due, then
   `send_task("vehicles.tasks.refresh_due_connections")` (what beat sends) → Redis → one
   `celery -A config worker --pool threads --concurrency {o.concurrency}` (one process) → one `refresh_connections`
   task per batch of {settings.TOKEN_REFRESH_BATCH_SIZE} (`TOKEN_REFRESH_BATCH_SIZE`) →
   `vehicles.services.tokens._refresh` per connection → the emulator, until every connection's `token_version` has
   moved; each refresh's end is its `last_refreshed_at`. The bare SDK: one process with {
            o.concurrency
        } threads, each with its own
   `smartcar.AuthClient`, calling `exchange_refresh_token` over another N refresh tokens (each used once, the threads
   taking them in turn), as shipped (no session, the SDK's own timeout): the same {o.concurrency} calls in flight at
   most; each call's end is taken as it returns. The rate a process *sustains* is taken between the
   {round(100 * STEADY[0])}th and the {round(100 * STEADY[1])}th percentile of a run's ends, while every thread has
   a refresh to make (before, the fan-out and the first latency; after, a sweep's last batches, which leave threads
   idle), so it does not depend on the run's size; the rate over the *whole* run, from the publish of beat's task (or
   the loop's start) to the last end, is given beside it. {o.repetitions} pairs; the pipeline at {
            ", ".join(map(str, o.context_concurrency)) or "no other"
        } threads once
   each, for context. CPU time comes from `/proc` (user + system, children included): the worker, Redis, every
   PostgreSQL process (the pipeline's less its paired SDK run's, which only the emulator causes, is ours), the
   emulator. Resident size: the worker's `VmRSS` and, for the target, `VmHWM` (the most it ever held).
2. **Token calls per connection per day.** Computed from the schedule (Smartcar's 2-hour access token,
   `TOKEN_REFRESH_LEAD_TIME_MINUTES`, `TOKEN_REFRESH_INTERVAL_MINUTES`, the 5-minute margin of a token handed out
   for use, `TOKEN_REFRESH_MAX_AGE_DAYS`), and counted: for each policy, connections with real refresh tokens
   (the count in section 2) whose ages spread evenly over {settings.TOKEN_REFRESH_MAX_AGE_DAYS} days (each access
   token as old as its refresh token), then 24 hours on the
   test clock (time-machine, not ticking) in the bench's process: every {settings.TOKEN_REFRESH_INTERVAL_MINUTES}
   minutes beat's `due_connection_ids()` and `refresh_due_connection()` for each, and where the data is fetched,
   `get_access_token()` for every connection as often, as `tests/vehicles/test_refresh.py` does for one connection;
   the calls are those the emulator (at 0 ms) logged at its token endpoint.
3. **Webhook deliveries.** The web as in production (`gunicorn --config deploy/gunicorn.conf.py`: `gthread`, its
   threads per process, JSON request logs) with **one** process, `SMARTCAR_MANAGEMENT_TOKENS` set. The emulator
   verifies a webhook pointing at it (VERIFY, answered by the receiver) and subscribes a fleet's cars to it, every
   permission granted; their FIRST_DELIVERY `VEHICLE_STATE` payloads (every signal, {self.results.webhook_body_bytes:,}
   bytes on average) are the deliveries, one of them sent by the emulator itself first. wrk (1 thread,
   {o.webhook_connections} connections, {o.webhook_rounds} runs of {o.webhook_seconds} s after a 2 s warm-up) sends
   them from a Lua script cycling through bodies signed beforehand (hex HMAC-SHA256 of the body under the management
   token), each with an `eventId` and a `deliveryId` of its own; each run checks that the web stored as many
   deliveries as wrk counted (an `eventId` seen twice would be answered without being stored). No worker runs:
   accepting is storing the delivery and queueing its processing on Redis.
4. **Due scan.** On {small:,} and then {large:,} bulk-inserted connections with the same number
   due, spread evenly so that each sits on a table page of its own in both tables (one in ten due by the refresh
   token's age; one connection in twenty needs reconnecting, long expired and never due), after `VACUUM ANALYZE`.
   The query's time is PostgreSQL's own (`EXPLAIN (ANALYZE, BUFFERS)` of the query `due_connection_ids()` sends),
   {len(self.results.scans[0].execution_ms)} times on each table, alternating between the two (the small table is
   kept in a database of its own for that); `due_connection_ids()` itself is timed
   {len(self.results.scans[0].seconds)} times after a warm-up on each table in turn, round trip and Python included.
   The fan-out: `refresh_due_connections()` run in-process (as a worker runs it) with {int(self.results.fanout.due):,}
   due and no worker consuming, so it is the scan plus one publish to Redis per batch.
5. **Pages.** The web as in production, two processes. wrk (1 thread,
   {o.page_connections} connections, {o.page_seconds} s per run, {o.page_rounds} rounds rotating the order, after a
   1 s warm-up of each) on `/vehicles/` as a person with {_counts()} vehicles (`bench/pages.py`), on one of
   their cars' page ("{pages.CAR_PAGE}": {pages.HISTORY_DAYS * pages.READINGS_PER_DAY} readings drawn as charts), on a
   trivial signed-in page (an empty page in the site's layout, `base.html`: the target's floor) and on a plain-text
   signed-in view (sessions, user and middleware only), while the history table also holds {pages.HISTORY_CARS:,}
   other cars' {pages.HISTORY_DAYS} days of hourly readings
   ({(pages.HISTORY_CARS + sum(pages.CAR_COUNTS)) * pages.HISTORY_DAYS * pages.READINGS_PER_DAY:,} rows in all,
   vacuumed and analysed). Query counts are taken in-process with the same settings."""

    def environment(self) -> str:
        rows = [[name, value] for name, value in self.results.environment.items()]
        return _table(["", ""], rows)

    def refresh_section(self) -> str:
        o = self.options
        rows = []
        for pipeline, sdk in self.pairs:
            parts = self.cpu_ms(pipeline, sdk)
            rows.append(
                [
                    str(pipeline.repetition + 1),
                    f"{pipeline.steady_per_second:.1f} ({pipeline.per_second:.1f})",
                    f"{sdk.steady_per_second:.1f} ({sdk.per_second:.1f})",
                    f"{pipeline.steady_per_second / sdk.steady_per_second:.2f} "
                    f"({pipeline.per_second / sdk.per_second:.2f})",
                    f"{parts['worker']:.2f}",
                    f"{parts['PostgreSQL (ours)']:.2f}",
                    f"{parts['Redis']:.2f}",
                    f"{parts['bare SDK loop']:.2f}",
                    f"{parts['emulator']:.1f} / {sdk.ms(sdk.cpu.emulator):.1f}",
                    f"{pipeline.token_calls} / {sdk.token_calls}",
                ]
            )
        table = _table(
            [
                "pair",
                "pipeline /s sustained (whole)",
                "bare SDK /s sustained (whole)",
                "ratio sustained (whole)",
                "worker CPU ms",
                "our PostgreSQL ms",
                "Redis ms",
                "SDK loop CPU ms",
                "emulator CPU ms (pipeline / SDK)",
                "token calls",
            ],
            rows,
        )
        low, high = (round(100 * share) for share in STEADY)
        lines = [
            f"At {o.latency_ms} ms, {o.concurrency} calls in flight at most in both. *Sustained*: the rate between the "
            f"{low}th and the {high}th percentile of the run's refreshes, while every thread had one to make; *whole*: "
            "the run's refreshes over its whole length, from the publish of beat's task (or the loop's start) to the "
            "last refresh. CPU columns are milliseconds per refresh.",
            "",
            table,
            "",
        ]
        rates, ratios = self.rates(), self.ratios()
        ceiling = o.concurrency / (o.latency_ms / 1000)
        lines.append(
            f"- One worker process sustained **{fmt(median(rates))} refreshes a second** (range {spread(rates)}); "
            f"pipeline ÷ bare SDK **{fmt(median(ratios))}** (range {spread(ratios)}). {o.concurrency} threads waiting "
            f"{o.latency_ms} ms each could make at most {fmt(ceiling)} a second; what is missing is the time each "
            f"refresh spends beyond the latency: its {self.results.statements_per_refresh} SQL statements (counted "
            "in-process, two short transactions), its task's acknowledgement, the interpreter lock its threads "
            "share, and the cores it shares with the emulator and PostgreSQL, each round trip waiting for one again."
        )
        pipeline, sdk = self.pairs[0]
        lines.append(
            f"- How a run goes, pair 1, refreshes a second in each tenth of its refreshes: the pipeline "
            f"{', '.join(f'{rate:.0f}' for rate in pipeline.tenths())}; the bare SDK "
            f"{', '.join(f'{rate:.0f}' for rate in sdk.tenths())}. The pipeline's first tenth includes the fan-out "
            f"and the first latency; its last, the sweep's last batches of {settings.TOKEN_REFRESH_BATCH_SIZE}, "
            "which leave threads idle: in a real sweep, minutes long, they are a few seconds at its end."
        )
        for run in self.context_runs():
            at_most = run.in_flight / (o.latency_ms / 1000)
            lines.append(
                f"- The pipeline with {run.in_flight} threads (context, one sweep of {run.count:,}): "
                f"{fmt(run.steady_per_second)} "
                f"a second sustained ({fmt(run.per_second)} whole), {fmt(run.ms(run.cpu.worker))} ms of worker CPU per "
                f"refresh; at most {fmt(at_most)} at {o.latency_ms} ms."
            )
        failures = sum(run.failures for run in self.results.runs)
        calls_ok = all(run.token_calls == run.count for run in self.results.runs)
        lines.append(
            "- Every run refreshed all its connections, "
            f"{'with exactly one token call each' if calls_ok else 'with MORE token calls than connections'}; "
            f"{failures} failed refreshes."
        )
        return "\n".join(lines)

    def policy_section(self) -> str:
        rows = [
            [
                day.scenario.name,
                f"**{_per_day(day.computed)}**: {day.formula}",
                f"{_per_day(day.simulated)} ({_calls(day.calls)} ÷ {day.connections} connections)",
                "agrees" if self.agrees(day) else "**differs**",
                f"{day.seconds:.0f} s",
            ]
            for day in self.results.days
        ]
        table = _table(["policy", "computed from the schedule", "simulated day", "", "took"], rows)
        sweep = settings.TOKEN_REFRESH_INTERVAL_MINUTES
        return (
            table
            + "\n\nOn the test clock a refresh takes no time, so under `warm` each token is refreshed exactly at the "
            f"sweep the lead time starts at; in real time a refresh ends just after its sweep, and the next refresh "
            f"falls a sweep later: 1440 ÷ (90 + {sweep}) = {1440 / (90 + sweep):.1f} calls a day, the lower bound of "
            "the same schedule. Each refresh renews the refresh token too, so the 50-day keep-alive costs nothing "
            "where tokens are used."
        )

    def webhooks_section(self) -> str:
        rows = [
            [
                str(load.round + 1),
                f"{load.per_second:.0f}",
                fmt(load.p50_ms),
                fmt(load.p99_ms),
                fmt(load.server_cpu_ms),
                f"{load.requests:,}",
                f"{load.stored:,}",
            ]
            for load in self.results.webhook_loads
        ]
        table = _table(
            ["run", "deliveries/s", "p50 ms", "p99 ms", "web CPU ms per delivery", "answered", "stored"], rows
        )
        memory = self.results.memory.get("web (one process) after the deliveries")
        cpu = median([load.server_cpu_ms for load in self.results.webhook_loads])
        statements = self.results.statements_per_delivery
        return (
            table + f"\n\nOne process spends **{fmt(cpu)} ms of CPU per delivery** (the signature, the JSON, "
            f"{len(statements)} SQL statements ({', '.join(statements)}, counted in-process) and the health check "
            "Django makes of a reused connection before each request, one publish to Redis, the request's log line), "
            "and its threads share one interpreter lock, so it accepts at most about "
            f"{1000 / cpu:,.0f} a second with a core to itself; here it shares two cores with PostgreSQL, Redis and "
            "wrk. " + (f"Its resident size after the runs: {fmt(max(memory['child_rss']))} MB." if memory else "")
        )

    def scan_section(self) -> str:
        small, large = self.options.scan_rows
        first = self.scan(small)
        rows = []
        for scan in self.results.scans:
            rows.append(
                [
                    f"{scan.rows:,}",
                    f"{scan.due:,}",
                    fmt(1000 * median(scan.seconds)),
                    spread([1000 * value for value in scan.seconds]),
                    fmt(median(scan.execution_ms)),
                ]
            )
        table = _table(
            ["connections", "due", "due_connection_ids() ms", "range ms", "EXPLAIN ANALYZE execution ms"], rows
        )
        fanout = self.results.fanout
        due = int(fanout.due)
        per_task = [1e6 * seconds / due for seconds in fanout.seconds]
        cpu = [1e6 * seconds / due for seconds in fanout.cpu_seconds]
        plans = []
        for scan in self.results.scans:
            plans.append(f"{scan.rows:,} connections, {scan.due:,} due:\n\n```\n{scan.plan}\n```")
        same_due = self.scan(large, first.due)
        ratio = median(same_due.execution_ms) / median(first.execution_ms)
        wall_ratio = median(same_due.seconds) / median(first.seconds)
        return "\n\n".join(
            [
                table,
                f"Ratio {large:,} ÷ {small:,} at {first.due:,} due: **{fmt(ratio)}** for the query "
                f"(EXPLAIN ANALYZE, the two tables alternating), {fmt(wall_ratio)} for the function as called from "
                "Python (one table after the other).",
                f"The fan-out for {due:,} due connections: **{fmt(median(fanout.seconds))} s** "
                f"(range {spread(fanout.seconds)} s), {fmt(median(per_task))} µs per queued task of which "
                f"{fmt(median(cpu))} µs of CPU in the publishing process; queued {', '.join(map(str, fanout.queued))}.",
                *plans,
            ]
        )

    def pages_section(self) -> str:
        names = list(dict.fromkeys(load.page for _, load in self.results.loads))
        rows = []
        for name in names:
            loads = [load for _, load in self.results.loads if load.page == name]
            rows.append(
                [
                    name,
                    str(self.results.queries[name]),
                    ", ".join(f"{load.per_second:.0f}" for load in loads),
                    fmt(median([load.per_second for load in loads])),
                    fmt(median([load.p50_ms for load in loads])),
                    fmt(median([load.p99_ms for load in loads])),
                    fmt(median([load.server_cpu_ms for load in loads])),
                    fmt(median(self.page_ratios(name, pages.PAGE_FLOOR))),
                    fmt(median(self.page_ratios(name, pages.PAGE_FLOOR, by_cpu=True))),
                ]
            )
        header = ["page", "queries", "requests/s per round", "median /s", "p50 ms", "p99 ms", "server CPU ms/request"]
        header += ["÷ trivial page", "÷ trivial page by CPU"]
        return _table(header, rows) + (
            "\n\nThroughput under wrk moves with whatever else the machine runs; the web's CPU time per request "
            "(gunicorn's processes, from `/proc`) moves much less, and its ratio is what the two pages' throughputs "
            "would be with the CPU to themselves. Each car on `/vehicles/` costs about "
            f"**{fmt(self.row_cpu_us())} µs** of the web's CPU (the {pages.CAR_COUNTS[-1]}-car page less the "
            f"{pages.CAR_COUNTS[0]}-car one, per car)."
        )

    def memory_section(self) -> str:
        rows = []
        for name, sizes in self.results.memory.items():
            rows.append(
                [
                    name,
                    str(sizes["processes"]),
                    fmt(sizes["main_rss"]),
                    f"{fmt(min(sizes['child_rss']))}-{fmt(max(sizes['child_rss']))}",
                    fmt(sizes["peak_rss"]),
                    fmt(sizes["total_rss"]),
                    fmt(sizes["total_pss"]),
                ]
            )
        header = ["processes", "count", "main RSS MB", "each child RSS MB", "largest RSS reached MB", "total RSS MB"]
        return _table([*header, "total PSS MB"], rows) + (
            "\n\nThe worker runs its threads in one process (no children: its rows show that process twice); the "
            "web's main process is gunicorn's arbiter, its children serve the requests."
        )

    def capacity_section(self) -> str:
        o = self.options
        rate = median(self.rates())
        planned = rate * PLANNED_USE
        memory = self.worker_memory()["peak_rss"]
        cpu = median([self.cpu_ms(*pair)["ours"] for pair in self.pairs])
        deliveries = median([load.per_second for load in self.results.webhook_loads])
        web_memory = max(self.results.memory["web (one process) after the deliveries"]["child_rss"])
        rows = []
        for day in self.results.days:
            for users in USERS:
                needed = users * day.computed / 86_400
                processes = max(1, math.ceil(needed / planned))
                rows.append(
                    [
                        day.scenario.name,
                        f"{users:,}",
                        _per_day(day.computed),
                        fmt(needed),
                        str(processes),
                        f"{processes * memory:,.0f} MB",
                        f"{processes * o.concurrency:,}",
                        fmt(needed * cpu / 1000),
                    ]
                )
        header = ["policy", "users (a connection each)", "token calls a day each", "refreshes/s"]
        header += ["worker processes", "their memory", "their PostgreSQL connections", "CPU cores (ours)"]
        table = _table(header, rows)
        return f"""\
One worker process with {o.concurrency} threads sustained **{fmt(rate)} refreshes a second** at {o.latency_ms} ms of
Smartcar latency (section 1), at most {fmt(memory)} MB resident, with up to {o.concurrency} PostgreSQL connections
open (one per thread, kept from task to task); our CPU per refresh (the worker, our share of PostgreSQL, Redis) was
{fmt(cpu)} ms. Planned at {100 * PLANNED_USE:.0f} % of that rate ({fmt(planned)} refreshes a second a process), which
drains each sweep's batch in half a sweep interval and absorbs a slower Smartcar, and with each policy's token calls
from section 2:

{table}

- A worker process also runs the data fetches and the webhooks' processing. Under `on-use` with the data polled,
  the polling itself (`VEHICLE_DATA_SYNC_MINUTES`, several Smartcar calls a car each time) costs far more Smartcar
  waiting than the tokens do and is not measured here: plan for it apart. With the data by webhook, token refreshes
  need next to nothing; one process is a floor (two for availability), not a need.
- PostgreSQL connections are what grows first: a worker holds one per thread, a web process one per thread, beat one.
  Keep their sum under `max_connections` (100 by default); past a few hundred, put a pooler (PgBouncer) in front
  of PostgreSQL rather than raising it, or run fewer threads in more processes, each of which costs its memory.
- Add CPU when our CPU per refresh times the refresh rate nears the cores you have; here the emulator, standing in
  for Smartcar, took its share of the same two cores, so the rates above are pessimistic.
- Webhooks: one web process accepted **{fmt(deliveries)} deliveries a second** ({fmt(web_memory)} MB resident), so
  a thousand a second take {math.ceil(1000 / (deliveries * PLANNED_USE))} web processes at
  {100 * PLANNED_USE:.0f} % use; their processing is one task each on the workers, with no Smartcar call.
- Beat and the due scan need nothing: the scan stays in milliseconds at a million connections (section 4)."""

    def choices_section(self) -> str:
        o = self.options
        rate = median(self.rates())
        ceiling = o.concurrency / (o.latency_ms / 1000)
        memory = self.worker_memory()["peak_rss"]
        lines = [
            "What the code does because of a measurement, and what it does not do because the measurement did not "
            "justify it (the rule: idiomatic code unless the gain is at least 5 % of what a person or an operator "
            "waits for).",
            "",
            f"- **{o.concurrency} threads in one worker process.** A refresh waits {o.latency_ms} ms on Smartcar for a "
            f"few milliseconds of CPU, so threads, not cores, bound a worker: {o.concurrency} threads can make at "
            f"most {fmt(ceiling)} refreshes a second, and sustained {fmt(rate)} ({100 * rate / ceiling:.0f} % of "
            "that: each refresh's statements, its task's acknowledgement, and the two cores it shares with the "
            f"emulator and PostgreSQL stretch it beyond the latency), at {fmt(memory)} MB resident.",
        ]
        for run in self.context_runs():
            verdict = "enough for" if run.steady_per_second >= REFRESHES_PER_SECOND else "short of"
            at_most = run.in_flight / (o.latency_ms / 1000)
            memory_then = self.results.memory.get(f"worker, {run.in_flight} threads, after a sweep")
            lines.append(
                f"  {run.in_flight} threads (at most {fmt(at_most)}) sustained {fmt(run.steady_per_second)}, "
                f"{verdict} the {REFRESHES_PER_SECOND} asked of one process"
                + (f", at {fmt(memory_then['peak_rss'])} MB" if memory_then else "")
                + "."
            )
        lines.append(
            "  Each thread costs little memory and one PostgreSQL connection: the number of threads is a trade of "
            "PostgreSQL connections against processes (section 6 and Capacity)."
        )
        return "\n".join(lines) + "\n" + self.page_choices()

    def page_choices(self) -> str:
        per_car = self.row_cpu_us()
        cost = f"about {fmt(per_car)} µs" if per_car is not None else "little"
        return f"""\
- **The garage overview is Django's template loop** (`templates/vehicles/_garage.html`, each car through
  `_car_body.html`) over model instances from `Vehicle.objects.for_table()`, one query whatever the number of cars
  (section 5's query counts); each car costs {cost} of the web's CPU here. The measurements that kept the table it
  replaced idiomatic (rows as f-strings under `mark_safe` saved about 1.3 ms for ten cars, under 5 % of what a person
  waits for over a network, 2026-11-30) are in this page's history.
- **The `age` filter words ages with `timesince` as it is.** Keeping its translated unit words between calls saved
  about 5 µs a row (0.26 ms for 50 rows, 2026-11-30), under 5 % even of the 50-car page's server time."""

    def profiles_section(self) -> str:
        if not self.results.profiles:
            return (
                "py-spy was not installed, so no profile was taken (`.venv/bin/pip install py-spy`, then `make bench`)."
            )
        parts = []
        for name, profile in self.results.profiles.items():
            share = profile.samples / 100
            roles = ", ".join(f"{role} {count / share:.0f} %" for role, count in profile.by_role.items())
            parts.append(f"### {name}\n\n{profile.samples:,} samples on a CPU{'; ' + roles if roles else ''}.")
            parts.append(
                "Where the time goes (samples anywhere under these functions):\n\n" + self.profile_notes(name, profile)
            )
            packages = [[f"`{package}`", f"{count / share:.0f} %"] for package, count in profile.by_package(10)]
            functions = [[f"`{function}`", f"{count / share:.0f} %"] for function, count in profile.top_own(10)]
            parts.append(_table(["package running", "share"], packages))
            parts.append(_table(["function running", "share"], functions))
        return "\n\n".join(parts)

    def findings(self) -> str:
        """What the numbers point at, said only when they do."""
        lines = []
        worker = self.results.profiles.get("worker")
        if worker and self.pairs:
            woken = sum(
                count
                for function, count in worker.own.items()
                if function.startswith(("SocketIO.readinto", "Connection.wait (psycopg"))
            )
            share = woken / max(worker.samples, 1)
            extra = 1000 * (
                self.options.concurrency / median(self.rates())
                - self.options.concurrency / median([each.steady_per_second for _, each in self.pairs])
            )
            if share > 0.25:
                lines.append(
                    f"- Refresh: {100 * share:.0f} % of the worker's samples sit where a thread wakes from a socket "
                    "read (Smartcar's answer) or from psycopg's wait (PostgreSQL's): py-spy counts a thread as "
                    "running while the system has it runnable, so most of these are threads woken by an answer and "
                    "waiting for a core. Each refresh makes "
                    f"{self.results.statements_per_refresh} SQL statements (two short transactions) besides the token "
                    "call, a round trip and a wake-up each, where the bare SDK makes the call alone; on two busy "
                    f"cores each wake-up waits, and a refresh took about {extra:.0f} ms longer than the bare SDK's "
                    f"call at {self.options.concurrency} in flight. More cores, or fewer processes sharing them (here "
                    "the emulator, standing in for Smartcar, and PostgreSQL), shrink that: the ratio is a property of "
                    "this machine as much as of the code."
                )
        receiver = self.results.profiles.get(WEBHOOKS_PROFILE)
        deliveries = [load.per_second for load in self.results.webhook_loads]
        if receiver and deliveries and median(deliveries) < DELIVERIES_PER_SECOND:
            cpu = [load.server_cpu_ms for load in self.results.webhook_loads]
            storing = receiver.share("Model.save", "django/db/models/base.py")
            queueing = receiver.share("_queue_processing")
            serving = 1 - receiver.share("WSGIHandler.__call__")
            lines.append(
                f"- Webhooks: one process is bound by its CPU, {fmt(min(cpu))} to {fmt(max(cpu))} ms a delivery "
                "from one run to the next with the same code, so at most one delivery per that time under one "
                f"interpreter lock: {100 * storing:.0f} % of its samples store the delivery (the INSERT and its "
                f"transaction), {100 * queueing:.0f} % queue its processing (Celery's publish to Redis), "
                f"{100 * serving:.0f} % are gunicorn's own (accepting, parsing, answering). Storing and queueing "
                "are what the receiver promises before it answers; more deliveries a second take more web processes "
                "(`WEB_CONCURRENCY`), or a receiver that leaves the queueing to beat's sweep of pending events, at "
                "up to a minute's delay: a choice for the product, not for the bench."
            )
        for name, page in self.results.profiles.items():
            decrypting = page.share("from_db_value", "vehicles/fields.py")
            if name != "worker" and decrypting > 0.05:
                lines.append(
                    f"- {name}: {100 * decrypting:.0f} % of the web's time decrypts the connection's two tokens for "
                    "every row (`select_related('connection')` loads them), and "
                    f"{100 * page.share('JSONField.from_db_value'):.0f} % decodes the stored signals; the table shows "
                    "neither."
                )
        return "### What the numbers point at\n\n" + "\n".join(lines) if lines else ""

    @staticmethod
    def profile_notes(name: str, profile) -> str:
        if name == "worker":
            shares = {
                "the refresh service (`vehicles.services.tokens._refresh`)": profile.share(
                    "_refresh", "vehicles/services/tokens.py"
                ),
                "the token call inside it (`smartcar_client.refresh_tokens`, the SDK and requests)": profile.share(
                    "refresh_tokens", "vehicles/smartcar_client.py"
                ),
                "locking the row (`vehicles.services.tokens._lock`)": profile.share(
                    "_lock", "vehicles/services/tokens.py"
                ),
                "saving the row (`Model.save`)": profile.share("Model.save", "django/db/models/base.py"),
                "opening a PostgreSQL connection (`BaseDatabaseWrapper.connect`)": profile.share(
                    "BaseDatabaseWrapper.connect"
                ),
                "Celery around each task (`trace_task` less the task itself)": profile.share(
                    "trace_task", "celery/app/trace.py"
                )
                - profile.share("__protected_call__", "celery/app/trace.py"),
                "the fan-out publishing (`refresh_due_connections`)": profile.share(
                    "refresh_due_connections", "vehicles/tasks.py"
                ),
                "logging (`Logger._log`)": profile.share("Logger._log"),
            }
        elif name == WEBHOOKS_PROFILE:
            shares = {
                "the receiver (`smartcar_webhook`)": profile.share("smartcar_webhook", "vehicles/views.py"),
                "checking the signature (`signature_is_valid`)": profile.share("signature_is_valid"),
                "parsing the body (`json.loads`)": profile.share("loads", "json/__init__.py"),
                "storing the delivery (`Model.save`)": profile.share("Model.save", "django/db/models/base.py"),
                "queueing its processing (`_queue_processing`, Celery's publish)": profile.share("_queue_processing"),
                "Django around the view: middleware, request and response (`WSGIHandler.__call__` less the view)": (
                    profile.share("WSGIHandler.__call__") - profile.share("smartcar_webhook", "vehicles/views.py")
                ),
                "logging (`Logger._log`)": profile.share("Logger._log"),
                "gunicorn's own: accepting, parsing, writing (all less `WSGIHandler.__call__`)": 1
                - profile.share("WSGIHandler.__call__"),
            }
        else:
            shares = {
                "the view (`vehicle_list` or `vehicle_detail`)": max(
                    profile.share("vehicle_list", "vehicles/views.py"),
                    profile.share("vehicle_detail", "vehicles/views.py"),
                ),
                "rendering templates (`Template.render`)": profile.share("Template.render"),
                "template loops (`ForNode.render`)": profile.share("ForNode.render"),
                "template includes (`IncludeNode.render`)": profile.share("IncludeNode.render"),
                "the `age` filter": profile.share("age", "vehicles/templatetags/vehicles.py"),
                "the charts (`vehicles/charts.py`)": profile.share("vehicles/charts.py"),
                "rows into model instances, every query (`ModelIterable.__iter__`)": profile.share(
                    "ModelIterable.__iter__"
                ),
                "the session and the signed-in user (`SessionStore.load`, `get_user`)": (
                    profile.share("SessionStore.load") + profile.share("get_user", "django/contrib/auth")
                ),
                "the connection health check (`is_usable`)": profile.share("is_usable"),
            }
        return "\n".join(f"- {label}: {100 * share:.0f} %" for label, share in shares.items())

    def render(self) -> str:
        r = self.results
        o = self.options
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        setup = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in r.setup_seconds.items())
        page_profiles = ", ".join(name for name in r.profiles if name not in ("worker", WEBHOOKS_PROFILE)) or "none"
        return f"""\
# Benchmarks

Written by `make bench` (`bench/`, {when}; the whole run took {r.total_seconds:.0f} s: {setup}).
Rerun it rather than editing this page. How to read the numbers: `bench/README.md`.

## Results against the targets

{self.summary()}

## Method

{self.method()}

## Environment

{self.environment()}

## 1. Refreshes from one worker process, and the bare SDK

{self.refresh_section()}

## 2. Token calls per connection per day

{self.policy_section()}

## 3. Webhook deliveries on one web process

{self.webhooks_section()}

## 4. The due-connection scan and the fan-out

{self.scan_section()}

## 5. Pages

{self.pages_section()}

## 6. Memory

{self.memory_section()}

## Capacity

{self.capacity_section()}

## Choices these numbers settle

{self.choices_section()}

## Profiles

Taken with py-spy (200 Hz, idle threads left out) outside the timed runs: the worker during an extra sweep of
{o.connections // 2:,} connections at {o.latency_ms} ms, the one-process web during a wrk run of webhook deliveries,
the two-process web during a wrk run on the page whose target is the hardest ({page_profiles}).

{self.profiles_section()}

{self.findings()}
"""


def render(results) -> str:
    return Report(results).render()


def brief(results) -> list[str]:
    """The measured numbers, one line each, for a partial run (`--only`), which writes no page."""
    report = Report(results)
    lines = []
    for run in results.runs:
        cpu = run.client_cpu if run.kind == "sdk" else run.cpu.worker
        lines.append(
            f"refresh, {run.kind}, {run.in_flight} in flight: {fmt(run.per_second)}/s, {fmt(run.ms(cpu))} ms CPU each "
            f"in the worker or loop, {fmt(run.ms(run.cpu.emulator))} ms in the emulator; steady "
            f"{fmt(run.steady_per_second)}/s; by tenths {', '.join(f'{rate:.0f}' for rate in run.tenths())}"
        )
    if report.pairs:
        lines.append(f"refreshes/s, one worker process: {fmt(median(report.rates()))} ({spread(report.rates())})")
        lines.append(f"pipeline ÷ SDK: {fmt(median(report.ratios()))} ({spread(report.ratios())})")
    for name, sizes in results.memory.items():
        lines.append(f"{name}: RSS {fmt(sizes['main_rss'])} MB main, largest reached {fmt(sizes['peak_rss'])} MB")
    for day in results.days:
        lines.append(
            f"token calls a day, {day.scenario.name}: computed {_per_day(day.computed)}, simulated "
            f"{_per_day(day.simulated)} ({day.calls} calls, {day.seconds:.0f} s)"
        )
    if results.statements_per_refresh:
        lines.append(f"SQL statements per refresh: {results.statements_per_refresh}")
    if results.statements_per_delivery:
        lines.append(f"SQL statements per delivery: {', '.join(results.statements_per_delivery)}")
    for load in results.webhook_loads:
        lines.append(
            f"webhooks run {load.round + 1}: {fmt(load.per_second)}/s, p50 {fmt(load.p50_ms)} ms, p99 "
            f"{fmt(load.p99_ms)} ms, {fmt(load.server_cpu_ms)} ms CPU each"
        )
    for name, count in results.queries.items():
        lines.append(f"{name}: {count} queries")
    pages_measured = {load.page for _, load in results.loads}
    for name in sorted(pages_measured - {pages.PAGE_FLOOR}):
        values = report.page_ratios(name, pages.PAGE_FLOOR)
        by_cpu = report.page_ratios(name, pages.PAGE_FLOOR, by_cpu=True)
        lines.append(
            f"{name} ÷ trivial page: {fmt(median(values))} by requests/s ({spread(values)}), "
            f"{fmt(median(by_cpu))} by server CPU ({spread(by_cpu)})"
        )
    for name in sorted(pages_measured):
        cpu = [load.server_cpu_ms for _, load in results.loads if load.page == name]
        lines.append(f"{name}: {fmt(median(report.loads(name)))} requests/s, {fmt(median(cpu))} ms server CPU each")
    if report.row_cpu_us() is not None:
        lines.append(f"a car on /vehicles/: {fmt(report.row_cpu_us())} µs server CPU")
    for name, profile in results.profiles.items():
        lines.append(f"profile of {name}, {profile.samples:,} samples:")
        lines += ["  " + line for line in Report.profile_notes(name, profile).splitlines()]
        lines += [f"  {function}: {100 * count / profile.samples:.0f} %" for function, count in profile.top_own(8)]
    return lines
