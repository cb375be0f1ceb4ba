"""`make bench`: starts the emulator, the web and a Celery worker on the PostgreSQL and Redis that
scripts/with-test-services provides, runs the benchmark's measurements and writes docs/benchmarks.md."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import requests

from bench import procs, profile
from bench.procs import Services

logger = logging.getLogger("bench")

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
APP_DATABASE = "garage_bench"
EMULATOR_DATABASE = "garage_bench_emulator"
SCAN_DATABASE = "garage_bench_scan"
CLIENT = ("emulator-client-id", "emulator-client-secret")
# The key the emulator signs its webhook deliveries with, and the web checks them with.
MANAGEMENT_TOKEN = "bench-management-token"  # noqa: S105 - a throwaway key for a throwaway stack
PARTS = ("pages", "webhooks", "policy", "refresh", "scan")
# The garage profiled: the page count its target (0.6 of a trivial page, up to 10 cars) is hardest to meet at.
PROFILED_CARS = 10


@dataclass
class Options:
    connections: int
    concurrency: int
    context_concurrency: list[int]
    latency_ms: int
    repetitions: int
    page_seconds: int
    page_rounds: int
    page_connections: int
    webhook_seconds: int
    webhook_rounds: int
    webhook_connections: int
    scan_rows: tuple[int, int]
    emulator_workers: int
    emulator_threads: int
    profile: bool
    output: Path
    only: frozenset[str] = frozenset(PARTS)


@dataclass
class Results:
    options: Options
    environment: dict[str, str] = field(default_factory=dict)
    runs: list = field(default_factory=list)
    loads: list = field(default_factory=list)
    queries: dict[str, int] = field(default_factory=dict)
    webhook_loads: list = field(default_factory=list)
    webhook_body_bytes: int = 0
    statements_per_refresh: int = 0
    statements_per_delivery: list[str] = field(default_factory=list)
    days: list = field(default_factory=list)
    memory: dict[str, dict] = field(default_factory=dict)
    scans: list = field(default_factory=list)
    fanout: object = None
    profiles: dict[str, str] = field(default_factory=dict)
    setup_seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0


def parse_options() -> Options:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=2000, help="due connections per refresh run (N)")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="the worker's threads, and the SDK loop's: calls in flight (C)"
    )
    parser.add_argument(
        "--context-concurrency",
        type=int,
        nargs="*",
        default=[32],
        help="other thread counts whose pipeline is measured once, for context",
    )
    parser.add_argument("--latency-ms", type=int, default=300, help="the token endpoint's emulated latency")
    parser.add_argument("--repetitions", type=int, default=3, help="interleaved repetitions of each measurement")
    parser.add_argument("--page-seconds", type=int, default=3, help="length of one wrk run on a page")
    parser.add_argument("--page-rounds", type=int, default=5, help="rounds of wrk runs over the pages")
    parser.add_argument("--page-connections", type=int, default=8, help="wrk's open connections to the pages")
    parser.add_argument("--webhook-seconds", type=int, default=3, help="length of one wrk run of webhook deliveries")
    parser.add_argument("--webhook-rounds", type=int, default=5, help="wrk runs of webhook deliveries")
    parser.add_argument("--webhook-connections", type=int, default=8, help="wrk's open connections for deliveries")
    parser.add_argument("--scan-rows", type=int, nargs=2, default=(10_000, 1_000_000), metavar=("SMALL", "LARGE"))
    parser.add_argument("--emulator-workers", type=int, default=4, help="gunicorn processes serving the emulator")
    parser.add_argument("--emulator-threads", type=int, default=24, help="threads in each emulator process")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip py-spy even if installed")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="measure only this part (repeatable); the results are logged and no page is written",
    )
    args = parser.parse_args()
    return Options(
        connections=args.connections,
        concurrency=args.concurrency,
        context_concurrency=args.context_concurrency,
        latency_ms=args.latency_ms,
        repetitions=args.repetitions,
        page_seconds=args.page_seconds,
        page_rounds=args.page_rounds,
        page_connections=args.page_connections,
        webhook_seconds=args.webhook_seconds,
        webhook_rounds=args.webhook_rounds,
        webhook_connections=args.webhook_connections,
        scan_rows=tuple(args.scan_rows),
        emulator_workers=args.emulator_workers,
        emulator_threads=args.emulator_threads,
        profile=args.profile,
        output=args.output,
        only=frozenset(args.only or PARTS),
    )


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        logger.info("installing wrk (apt-get)")
        quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
        subprocess.run(["apt-get", "update", "-qq"], check=True, **quiet)  # noqa: S607
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"], check=True, **quiet)  # noqa: S607
        return
    sys.exit("bench: wrk not found. Install it (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk).")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate_databases(server_url: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as server:
        for name in (APP_DATABASE, EMULATOR_DATABASE, SCAN_DATABASE):
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            server.execute(f'CREATE DATABASE "{name}"')


def drop_databases(server_url: str) -> None:
    with contextlib.suppress(psycopg.Error), psycopg.connect(server_url, autocommit=True) as server:
        for name in (APP_DATABASE, EMULATOR_DATABASE, SCAN_DATABASE):
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Bench:
    def __init__(self, options: Options, services: Services, workdir: Path) -> None:
        self.options = options
        self.services = services
        self.workdir = workdir
        self.results = Results(options=options)
        self.emulator_port = free_port()
        self.emulator_url = f"http://127.0.0.1:{self.emulator_port}"
        base = f"{self.emulator_url}/emulator"
        self.env = {
            **os.environ,
            # Another module (which must import bench.settings) lets a proposed settings change be measured.
            "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SETTINGS_MODULE", "bench.settings"),
            "DJANGO_ENV_FILE": "/dev/null",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "BENCH_APP_DATABASE": APP_DATABASE,
            "BENCH_EMULATOR_DATABASE": EMULATOR_DATABASE,
            "BENCH_SCAN_DATABASE": SCAN_DATABASE,
            "SMARTCAR_CONNECT_ORIGIN": f"{base}/connect",
            "SMARTCAR_AUTH_ORIGIN": f"{base}/auth/oauth/token",
            "SMARTCAR_API_ORIGIN": f"{base}/api",
            "SMARTCAR_VEHICLE_API_V3_ORIGIN": f"{base}/vehicle-api",
            "SMARTCAR_MANAGEMENT_TOKENS": MANAGEMENT_TOKEN,
        }
        self.emulator = None

    # --- processes -------------------------------------------------------------------------------------------

    def start_emulator(self, delay_ms: int) -> None:
        if self.emulator is not None:
            self.emulator.stop()
        # A thread per call in flight: the latency is a sleep that holds its thread, as a slow Smartcar holds the
        # connection. Enough of them that the emulator never caps the calls in flight being compared.
        argv = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.emulator_port}"]
        argv += ["--workers", str(self.options.emulator_workers), "--worker-class", "gthread"]
        argv += ["--threads", str(self.options.emulator_threads), "--log-level", "warning"]
        argv += ["bench.emulator_wsgi:application"]
        env = {**self.env, "BENCH_TOKEN_DELAY_MS": str(delay_ms)}
        self.emulator = self.services.start(f"emulator-{delay_ms}ms", argv, env)
        auth = CLIENT
        procs.wait_until(
            lambda: requests.get(f"{self.emulator_url}/emulator/control/clock", auth=auth, timeout=2).ok,
            timeout=60,
            what="the emulator",
        )
        # Rate limits never apply to the token endpoint; switched off anyway, so that nothing else can throttle.
        requests.put(
            f"{self.emulator_url}/emulator/control/rate-limits",
            json={"rate_limits_enabled": False},
            auth=auth,
            timeout=10,
        ).raise_for_status()
        procs.wait_idle(self.emulator.pid)

    def start_web(self, name: str, *, processes: int) -> tuple[procs.Service, str]:
        """The production web (deploy/gunicorn.conf.py: gthread, its threads per process) on loopback."""
        port = free_port()
        argv = [str(BIN / "gunicorn"), "--config", str(ROOT / "deploy" / "gunicorn.conf.py")]
        argv += ["--bind", f"127.0.0.1:{port}", "--workers", str(processes), "config.wsgi:application"]
        web = self.services.start(name, argv, self.env)
        url = f"http://127.0.0.1:{port}"
        procs.wait_until(lambda: requests.get(f"{url}/healthz", timeout=5).ok, timeout=60, what=f"the {name}")
        procs.wait_idle(web.pid)
        return web, url

    def start_worker(self, celery_app, concurrency: int) -> procs.Service:
        argv = [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--hostname",
            f"bench{concurrency}@%h",
        ]
        argv += ["--pool", "threads", "--concurrency", str(concurrency)]
        worker = self.services.start(f"worker-{concurrency}", argv, self.env, term_main_only=True)
        procs.wait_until(lambda: celery_app.control.ping(timeout=1), timeout=60, what="the Celery worker")
        procs.wait_idle(worker.pid)
        return worker

    def memory(self, service) -> dict:
        pids = procs.tree(service.pid)
        sizes = [procs.memory_kib(pid) for pid in pids]
        children = sizes[1:] or sizes
        return {
            "processes": len(pids),
            "main_rss": sizes[0][0] / 1024,
            "child_rss": [rss / 1024 for rss, _ in children],
            "peak_rss": max(procs.peak_rss_kib(pid) for pid in pids[1:] or pids) / 1024,
            "total_rss": sum(rss for rss, _ in sizes) / 1024,
            "total_pss": sum(pss for _, pss in sizes) / 1024,
        }

    # --- the run ---------------------------------------------------------------------------------------------

    def run(self) -> Results:
        results = self.results
        server_url = os.environ["DATABASE_URL"]
        started = time.monotonic()
        recreate_databases(server_url)
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        # One line per sign-in from django-axes, or per refresh of the simulated days, would drown the bench's own
        # progress lines.
        logging.getLogger("axes").setLevel(logging.WARNING)
        logging.getLogger("vehicles").setLevel(logging.WARNING)
        call_command("migrate", verbosity=0)
        call_command("migrate", database="emulator", verbosity=0)
        call_command("migrate", database="scan_small", verbosity=0)
        results.setup_seconds["databases and migrations"] = time.monotonic() - started

        from bench import pages, policy, refresh, scan, webhooks
        from config.celery import app as celery_app

        started = time.monotonic()
        self.start_emulator(0)
        results.setup_seconds["starting the emulator"] = time.monotonic() - started

        only = self.options.only
        if "webhooks" in only:
            self.measure_webhooks(webhooks, celery_app)
        if "policy" in only:
            self.measure_policy(policy)
        if "refresh" in only:
            self.measure_refresh(refresh, celery_app)
        self.emulator.stop()
        # After the parts that measure throughput: the pages' fixtures write millions of history rows, whose
        # autovacuum would take CPU from whatever ran next.
        if "pages" in only:
            self.measure_pages(pages)
        if "scan" in only:
            self.measure_scan(scan, celery_app)

        self.results.environment = environment()
        from django.db import connections

        connections.close_all()
        drop_databases(server_url)
        return results

    def measure_pages(self, pages) -> None:
        started = time.monotonic()
        page_list = pages.create_page_users()
        # The production shape: two processes of their threads each.
        web, web_url = self.start_web("web", processes=2)
        time.sleep(2)
        self.results.memory["web at rest"] = self.memory(web)
        for page in page_list:
            self.results.queries[page.name] = pages.query_count(page)
        cookies = {page.name: pages.session_cookie(page.user) for page in page_list}
        for page in page_list:
            pages.check_served(web_url, page, cookies[page.name])
            # Warm-up: templates compiled, connections opened, in every gunicorn process.
            pages.wrk(web_url + page.path, cookies[page.name], seconds=1, connections=8, name=page.name)
        for round_number in range(self.options.page_rounds):
            # Rotated so that no page always runs first or last in a round.
            shift = round_number % len(page_list)
            order = page_list[shift:] + page_list[:shift]
            for page in order:
                cpu_before = procs.tree_cpu_seconds(web.pid)
                load = pages.wrk(
                    web_url + page.path,
                    cookies[page.name],
                    seconds=self.options.page_seconds,
                    connections=self.options.page_connections,
                    name=page.name,
                )
                load.server_cpu_ms = 1000 * (procs.tree_cpu_seconds(web.pid) - cpu_before) / load.requests
                self.results.loads.append((round_number, load))
                logger.info("pages round %d: %s %.0f/s", round_number + 1, page.name, load.per_second)
        self.results.memory["web after the page load"] = self.memory(web)
        if self.options.profile and profile.py_spy():
            # Not timed: the profiler takes CPU from the server it watches. The page profiled is the garage whose
            # target (10 cars) is the hardest, else the last page measured.
            page = next((page for page in page_list if page.vehicles == PROFILED_CARS), page_list[-1])
            output = self.workdir / "web.profile"
            spy = profile.start(web.pid, self.options.page_seconds, output)
            time.sleep(0.5)
            pages.wrk(
                web_url + page.path,
                cookies[page.name],
                seconds=self.options.page_seconds,
                connections=self.options.page_connections,
                name=page.name,
            )
            if profile.finish(spy, timeout=120):
                self.results.profiles[page.name] = profile.summarise(output)
            else:
                logger.warning("py-spy could not keep up with the web: no profile of it")
        web.stop()
        self.results.setup_seconds["pages"] = time.monotonic() - started

    def measure_webhooks(self, webhooks, celery_app) -> None:
        started = time.monotonic()
        o = self.options
        web, web_url = self.start_web("web-webhooks", processes=1)
        url = web_url + webhooks.path()
        payloads = webhooks.emulator_deliveries(url)
        self.results.statements_per_delivery = webhooks.statements_per_delivery(payloads[0])
        script = self.workdir / "webhooks.lua"
        script.write_text(webhooks.LUA)
        requests_file = self.workdir / "webhooks.requests"
        # Enough distinct deliveries for every run, however fast: an eventId sent twice is a duplicate, answered
        # without being stored, which the run would detect and refuse.
        per_run = webhooks.MAX_PER_SECOND * o.webhook_seconds
        # Warm-up: the process's database connections opened, its code paths run once.
        webhooks.write_requests(requests_file, payloads, 2 * webhooks.MAX_PER_SECOND)
        webhooks.wrk(url, script=script, requests_file=requests_file, seconds=2, connections=8, round_number=-1)
        for round_number in range(o.webhook_rounds):
            self.results.webhook_body_bytes = webhooks.write_requests(requests_file, payloads, per_run)
            cpu_before = procs.tree_cpu_seconds(web.pid)
            load = webhooks.wrk(
                url,
                script=script,
                requests_file=requests_file,
                seconds=o.webhook_seconds,
                connections=o.webhook_connections,
                round_number=round_number,
            )
            load.server_cpu_ms = 1000 * (procs.tree_cpu_seconds(web.pid) - cpu_before) / load.requests
            self.results.webhook_loads.append(load)
            logger.info(
                "webhooks round %d: %.0f deliveries/s, p99 %.1f ms, %.2f ms CPU each",
                round_number + 1,
                load.per_second,
                load.p99_ms,
                load.server_cpu_ms,
            )
        self.results.memory["web (one process) after the deliveries"] = self.memory(web)
        if o.profile and profile.py_spy():
            # Not timed: the profiler takes CPU from the server it watches.
            webhooks.write_requests(requests_file, payloads, per_run)
            output = self.workdir / "webhooks.profile"
            spy = profile.start(web.pid, o.webhook_seconds, output)
            time.sleep(0.5)
            webhooks.wrk(
                url,
                script=script,
                requests_file=requests_file,
                seconds=o.webhook_seconds,
                connections=o.webhook_connections,
                round_number=-1,
            )
            if profile.finish(spy, timeout=120):
                self.results.profiles[webhooks.PROFILE] = profile.summarise(output)
            else:
                logger.warning("py-spy could not keep up with the web: no profile of its deliveries")
        web.stop()
        # No worker ran: the processing tasks queued for the deliveries go, so that no later worker takes them.
        celery_app.control.purge()
        self.results.setup_seconds["webhooks"] = time.monotonic() - started

    def measure_policy(self, policy) -> None:
        started = time.monotonic()
        for scenario in policy.scenarios():
            self.results.days.append(policy.simulate(scenario))
        self.results.setup_seconds["token calls a day"] = time.monotonic() - started

    def measure_refresh(self, refresh, celery_app) -> None:
        started = time.monotonic()
        o = self.options
        ids = refresh.create_connections(refresh.issue_refresh_tokens(o.connections))
        # Half as many connections of their own for the context runs: enough batches for every thread to take several.
        context_ids = refresh.create_connections(refresh.issue_refresh_tokens(o.connections // 2), prefix="context")
        (counted,) = refresh.create_connections(refresh.issue_refresh_tokens(1), prefix="counted")
        self.results.statements_per_refresh = refresh.statements_per_refresh(counted)
        sdk = refresh.SdkLoop(in_flight=o.concurrency, tokens=refresh.issue_refresh_tokens(o.connections))
        self.start_emulator(o.latency_ms)
        worker = None
        try:
            from django.db import connection

            broker_port = urlsplit(os.environ["CELERY_BROKER_URL"]).port
            with connection.cursor() as cursor:
                cursor.execute("SHOW data_directory")
                data_directory = Path(cursor.fetchone()[0])
            probes = refresh.Probes(
                worker_pid=0,
                emulator_pid=self.emulator.pid,
                redis_pid=procs.find_process("redis-server", f":{broker_port}"),
                postmaster_pid=int((data_directory / "postmaster.pid").read_text().split()[0]),
                harness_backend_pid=refresh.harness_backend_pid(),
            )
            for concurrency in o.context_concurrency:
                worker = self.start_worker(celery_app, concurrency)
                probes.worker_pid = worker.pid
                run = refresh.run_pipeline(
                    celery_app=celery_app,
                    probes=probes,
                    ids=context_ids,
                    latency_ms=o.latency_ms,
                    in_flight=concurrency,
                )
                self.results.runs.append(run)
                self.results.memory[f"worker, {concurrency} threads, after a sweep"] = self.memory(worker)
                self.log_run(run)
                worker.stop(grace=30)
            worker = self.start_worker(celery_app, o.concurrency)
            probes.worker_pid = worker.pid
            time.sleep(1)
            self.results.memory[f"worker, {o.concurrency} threads, at rest"] = self.memory(worker)
            for repetition in range(o.repetitions):
                # Alternating which goes first, so that neither always meets a warmer or a busier machine.
                kinds = ("pipeline", "sdk") if repetition % 2 == 0 else ("sdk", "pipeline")
                for kind in kinds:
                    if kind == "pipeline":
                        run = refresh.run_pipeline(
                            celery_app=celery_app,
                            probes=probes,
                            ids=ids,
                            latency_ms=o.latency_ms,
                            in_flight=o.concurrency,
                            repetition=repetition,
                        )
                    else:
                        run = sdk.run(probes=probes, latency_ms=o.latency_ms, repetition=repetition)
                    self.results.runs.append(run)
                    self.log_run(run)
                    time.sleep(0.3)
            self.results.memory[f"worker, {o.concurrency} threads, after the sweeps"] = self.memory(worker)
            if o.profile and profile.py_spy():
                # An extra, untimed sweep of some of the connections with the profiler attached.
                output = self.workdir / "worker.profile"
                spy = profile.start(worker.pid, 6, output)
                time.sleep(0.5)
                refresh.run_pipeline(
                    celery_app=celery_app,
                    probes=probes,
                    ids=ids[: o.connections // 2],
                    latency_ms=o.latency_ms,
                    in_flight=o.concurrency,
                )
                if profile.finish(spy, timeout=120):
                    self.results.profiles["worker"] = profile.summarise(output, roles=profile.WORKER_ROLES)
                else:
                    logger.warning("py-spy could not keep up with the worker: no profile of it")
        finally:
            sdk.close()
            if worker is not None:
                worker.stop(grace=30)
        self.results.setup_seconds["refresh"] = time.monotonic() - started

    @staticmethod
    def log_run(run) -> None:
        cpu = run.client_cpu if run.kind == "sdk" else run.cpu.worker
        logger.info(
            "refresh %d ms, %s, %d in flight: %.1f/s, %.2f ms CPU a refresh in the worker or loop, %d calls, %d failed",
            run.latency_ms,
            run.kind,
            run.in_flight,
            run.per_second,
            run.ms(cpu),
            run.token_calls,
            run.failures,
        )

    def measure_scan(self, scan, celery_app) -> None:
        started = time.monotonic()
        small, large = self.options.scan_rows
        scan.fill(small, due=scan.DUE)
        small_scan = scan.measure_scan(small)
        scan.fill(small, due=scan.DUE, using=scan.SMALL_ALIAS)
        scan.fill(large, due=scan.DUE)
        large_scan = scan.measure_scan(large)
        scan.interleave(large_scan.sql, small_scan, large_scan, small_alias=scan.SMALL_ALIAS)
        self.results.scans += [small_scan, large_scan]
        for each in (small_scan, large_scan):
            logger.info("scan at %d rows: query %.2f ms", each.rows, statistics.median(each.execution_ms))
        scan.make_more_due(scan.FANOUT_DUE)
        self.results.scans.append(scan.measure_scan(large))
        self.results.fanout = scan.measure_fanout(celery_app, repetitions=scan.FANOUT_REPETITIONS)
        self.results.setup_seconds["scan and fan-out"] = time.monotonic() - started


def environment() -> dict[str, str]:
    import platform
    from importlib.metadata import version

    import redis
    from django.conf import settings
    from django.db import connection

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), platform.processor())
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    redis_version = redis.Redis.from_url(settings.CELERY_BROKER_URL).info("server")["redis_version"]
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split()  # noqa: S607
    debian = Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "?"
    packages = ("Django", "celery", "kombu", "redis", "psycopg", "smartcar", "requests", "gunicorn", "cryptography")
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "memory": f"{memory_kib / 1024 / 1024:.0f} GiB",
        "system": f"Linux {platform.release()}, Debian {debian}",
        "Python": platform.python_version(),
        "packages": ", ".join(f"{name} {version(name)}" for name in packages),
        "servers": f"PostgreSQL {postgres} (fsync off, as scripts/with-test-services runs it), Redis {redis_version}",
        "load tool": f"wrk {wrk[1] if len(wrk) > 1 else '?'}",
    }


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    options = parse_options()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("CELERY_BROKER_URL"):
        sys.exit("bench: DATABASE_URL and CELERY_BROKER_URL are not set; run it with `make bench`.")
    ensure_wrk()
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="garage-bench-"))
    services = Services(workdir)

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, stop)
    times_before, load_before = procs.machine_times(), Path("/proc/loadavg").read_text().split()[0]
    try:
        results = Bench(options, services, workdir).run()
    except BaseException:
        services.stop_all()
        logger.error("failed; the processes' logs are in %s", workdir)
        raise
    services.stop_all()
    results.total_seconds = time.monotonic() - began
    total, idle, stolen = (after - before for after, before in zip(procs.machine_times(), times_before, strict=True))
    load_after = Path("/proc/loadavg").read_text().split()[0]
    results.environment["machine during the run"] = (
        f"{100 * (total - idle - stolen) / total:.0f} % busy (everything on it, the bench included), "
        f"{100 * stolen / total:.0f} % stolen by the hypervisor; load average {load_before} before, {load_after} after"
    )
    from bench import report

    if options.only != frozenset(PARTS):
        for line in report.brief(results):
            logger.info("%s", line)
        logger.info("partial run (--only) in %.0f s: %s not written", results.total_seconds, options.output)
    else:
        options.output.write_text(report.render(results))
        logger.info("wrote %s in %.0f s", options.output, results.total_seconds)
    if not os.environ.get("BENCH_KEEP_LOGS"):
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
