"""`make bench`: starts the emulator, the web and a Celery worker on the PostgreSQL and Redis that
scripts/with-test-services provides, runs the four measurements of the benchmark and writes docs/benchmarks.md."""

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
PARTS = ("pages", "refresh", "scan")


@dataclass
class Options:
    connections: int
    concurrency: int
    pool: str
    repetitions: int
    page_seconds: int
    page_rounds: int
    page_connections: int
    scan_rows: tuple[int, int]
    emulator_workers: int
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
    memory: dict[str, dict] = field(default_factory=dict)
    scans: list = field(default_factory=list)
    fanout: object = None
    profiles: dict[str, str] = field(default_factory=dict)
    setup_seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0


def parse_options() -> Options:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=1000, help="due connections per refresh run (N)")
    parser.add_argument("--concurrency", type=int, default=16, help="worker processes, and SDK loop processes (C)")
    parser.add_argument("--pool", default="prefork", help="the worker's pool (production runs prefork)")
    parser.add_argument("--repetitions", type=int, default=3, help="interleaved repetitions of each measurement")
    parser.add_argument("--page-seconds", type=int, default=3, help="length of one wrk run")
    parser.add_argument("--page-rounds", type=int, default=5, help="rounds of wrk runs over the four pages")
    parser.add_argument("--page-connections", type=int, default=8, help="wrk's open connections")
    parser.add_argument("--scan-rows", type=int, nargs=2, default=(10_000, 1_000_000), metavar=("SMALL", "LARGE"))
    parser.add_argument("--emulator-workers", type=int, default=4, help="gunicorn processes serving the emulator")
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
        pool=args.pool,
        repetitions=args.repetitions,
        page_seconds=args.page_seconds,
        page_rounds=args.page_rounds,
        page_connections=args.page_connections,
        scan_rows=tuple(args.scan_rows),
        emulator_workers=args.emulator_workers,
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
        self.web_port = free_port()
        self.emulator_url = f"http://127.0.0.1:{self.emulator_port}"
        self.web_url = f"http://127.0.0.1:{self.web_port}"
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
        }
        self.emulator = self.web = self.worker = None

    # --- processes -------------------------------------------------------------------------------------------

    def start_emulator(self, delay_ms: int) -> None:
        if self.emulator is not None:
            self.emulator.stop()
        argv = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.emulator_port}"]
        argv += ["--workers", str(self.options.emulator_workers), "--worker-class", "gthread", "--threads", "8"]
        argv += ["--log-level", "warning", "bench.emulator_wsgi:application"]
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

    def start_web(self) -> None:
        # The production shape (deploy/gunicorn.conf.py): two processes of four threads.
        argv = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.web_port}", "--workers", "2"]
        argv += ["--worker-class", "gthread", "--threads", "4", "--log-level", "warning", "config.wsgi:application"]
        self.web = self.services.start("web", argv, self.env)
        procs.wait_until(
            lambda: requests.get(f"{self.web_url}/healthz", timeout=5).ok, timeout=60, what="the web server"
        )

    def start_worker(self, celery_app) -> None:
        argv = [str(BIN / "celery"), "-A", "config", "worker", "--loglevel", "INFO", "--hostname", "bench@%h"]
        argv += ["--pool", self.options.pool, "--concurrency", str(self.options.concurrency)]
        self.worker = self.services.start("worker", argv, self.env, term_main_only=True)
        procs.wait_until(lambda: celery_app.control.ping(timeout=1), timeout=60, what="the Celery worker")
        if self.options.pool == "prefork":
            procs.wait_until(
                lambda: len(procs.tree(self.worker.pid)) > self.options.concurrency,
                timeout=30,
                what="the worker's pool",
            )

    def memory(self, service) -> dict:
        pids = procs.tree(service.pid)
        sizes = [procs.memory_kib(pid) for pid in pids]
        children = sizes[1:] or sizes
        return {
            "processes": len(pids),
            "main_rss": sizes[0][0] / 1024,
            "child_rss": [rss / 1024 for rss, _ in children],
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

        # One line per sign-in from django-axes would drown the bench's own progress lines.
        logging.getLogger("axes").setLevel(logging.WARNING)
        call_command("migrate", verbosity=0)
        call_command("migrate", database="emulator", verbosity=0)
        call_command("migrate", database="scan_small", verbosity=0)
        results.setup_seconds["databases and migrations"] = time.monotonic() - started

        from bench import pages, refresh, scan
        from config.celery import app as celery_app

        started = time.monotonic()
        self.start_emulator(0)
        self.start_web()
        self.start_worker(celery_app)
        results.setup_seconds["starting emulator, web and worker"] = time.monotonic() - started

        started = time.monotonic()
        ids = refresh.create_connections(refresh.issue_refresh_tokens(self.options.connections))
        sdk_tokens = refresh.issue_refresh_tokens(self.options.connections)
        page_list = pages.create_page_users()
        results.setup_seconds["fixtures"] = time.monotonic() - started

        time.sleep(2)
        results.memory["web at rest"] = self.memory(self.web)
        results.memory["worker at rest"] = self.memory(self.worker)

        only = self.options.only
        if "pages" in only:
            self.measure_pages(pages, page_list)
            results.memory["web after the page load"] = self.memory(self.web)

        if "refresh" in only:
            self.measure_refresh(refresh, celery_app, ids, sdk_tokens)
            results.memory["worker after the sweeps"] = self.memory(self.worker)

        self.worker.stop(grace=30)
        self.web.stop()
        self.emulator.stop()
        if "scan" in only:
            self.measure_scan(scan, celery_app)

        self.results.environment = environment()
        from django.db import connections

        connections.close_all()
        drop_databases(server_url)
        return results

    def measure_pages(self, pages, page_list) -> None:
        started = time.monotonic()
        for page in page_list:
            self.results.queries[page.name] = pages.query_count(page)
        cookies = {page.name: pages.session_cookie(page.user) for page in page_list}
        for page in page_list:
            pages.check_served(self.web_url, page, cookies[page.name])
            # Warm-up: templates compiled, connections opened, in every gunicorn process.
            pages.wrk(self.web_url + page.path, cookies[page.name], seconds=1, connections=8, name=page.name)
        for round_number in range(self.options.page_rounds):
            # Rotated so that no page always runs first or last in a round.
            shift = round_number % len(page_list)
            order = page_list[shift:] + page_list[:shift]
            for page in order:
                cpu_before = procs.tree_cpu_seconds(self.web.pid)
                load = pages.wrk(
                    self.web_url + page.path,
                    cookies[page.name],
                    seconds=self.options.page_seconds,
                    connections=self.options.page_connections,
                    name=page.name,
                )
                load.server_cpu_ms = 1000 * (procs.tree_cpu_seconds(self.web.pid) - cpu_before) / load.requests
                self.results.loads.append((round_number, load))
                logger.info("pages round %d: %s %.0f/s", round_number + 1, page.name, load.per_second)
        if self.options.profile and profile.py_spy():
            # Not timed: the profiler takes CPU from the server it watches.
            page = page_list[-1]
            output = self.workdir / "web.profile"
            spy = profile.start(self.web.pid, self.options.page_seconds, output)
            time.sleep(0.5)
            pages.wrk(
                self.web_url + page.path,
                cookies[page.name],
                seconds=self.options.page_seconds,
                connections=self.options.page_connections,
                name=page.name,
            )
            spy.wait(timeout=60)
            self.results.profiles[page.name] = profile.summarise(output)
        self.results.setup_seconds["pages"] = time.monotonic() - started

    def measure_refresh(self, refresh, celery_app, ids, sdk_tokens) -> None:
        started = time.monotonic()
        sdk = refresh.SdkLoop(concurrency=self.options.concurrency, tokens=sdk_tokens)
        try:
            from django.db import connection

            broker_port = urlsplit(os.environ["CELERY_BROKER_URL"]).port
            with connection.cursor() as cursor:
                cursor.execute("SHOW data_directory")
                data_directory = Path(cursor.fetchone()[0])
            probes = refresh.Probes(
                worker_pid=self.worker.pid,
                emulator_pid=0,
                redis_pid=procs.find_process("redis-server", f":{broker_port}"),
                postmaster_pid=int((data_directory / "postmaster.pid").read_text().split()[0]),
                harness_backend_pid=refresh.harness_backend_pid(),
            )
            for latency in (0, 200):
                if latency:
                    self.start_emulator(latency)
                probes.emulator_pid = self.emulator.pid
                for repetition in range(self.options.repetitions):
                    # Alternating which goes first, so that neither always meets a warmer or a busier machine.
                    kinds = ("pipeline", "sdk") if repetition % 2 == 0 else ("sdk", "pipeline")
                    for kind in kinds:
                        if kind == "pipeline":
                            run = refresh.run_pipeline(
                                celery_app=celery_app, probes=probes, ids=ids, latency_ms=latency, repetition=repetition
                            )
                        else:
                            run = sdk.run(probes=probes, latency_ms=latency, repetition=repetition)
                        self.results.runs.append(run)
                        logger.info(
                            "refresh %d ms, %s: %.1f/s, %.2f ms CPU per refresh in worker or loop, %d calls, %d failed",
                            latency,
                            kind,
                            run.per_second,
                            run.ms(run.cpu.worker_main + run.cpu.worker_children + run.client_cpu),
                            run.token_calls,
                            run.failures,
                        )
                        time.sleep(0.3)
            if self.options.profile and profile.py_spy():
                # An extra, untimed sweep of some of the connections with the profiler attached.
                output = self.workdir / "worker.profile"
                spy = profile.start(self.worker.pid, 6, output)
                time.sleep(0.5)
                refresh.run_pipeline(celery_app=celery_app, probes=probes, ids=ids[:300], latency_ms=200)
                spy.wait(timeout=60)
                self.results.profiles["worker"] = profile.summarise(output, child_marker="billiard/pool.py")
        finally:
            sdk.close()
        self.results.setup_seconds["refresh"] = time.monotonic() - started

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
