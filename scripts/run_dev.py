"""Runs the quick start's processes (a Procfile) side by side, with their output prefixed, and stops them all
together: on Ctrl-C, on SIGTERM or SIGHUP, on a closed terminal, or when any one of them exits. (honcho, tried first,
leaves its children running when the terminal goes away.)

Each process gets a process group of its own, so a signal to the group reaches its children too (the dev server's
autoreloader child, for one). Anything still running GRACE seconds after SIGTERM gets SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time

GRACE = 10.0


def read_procfile(path: str) -> dict[str, str]:
    processes = {}
    with open(path) as procfile:
        for line in procfile:
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, command = line.partition(":")
                processes[name.strip()] = command.strip()
    return processes


class Output:
    """Writes to our stdout until it goes away (a closed terminal), then stays quiet instead of failing."""

    def __init__(self) -> None:
        self.open = True

    def write(self, text: str) -> None:
        if not self.open:
            return
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError:
            self.open = False


def main(procfile: str) -> int:
    commands = read_procfile(procfile)
    width = max(map(len, commands))
    output = Output()
    stop_reason: list[str] = []

    def request_stop(signum, frame) -> None:
        stop_reason.append(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)

    processes: dict[str, subprocess.Popen] = {}
    selector = selectors.DefaultSelector()
    buffers: dict[str, bytes] = {}
    for name, command in commands.items():
        process = subprocess.Popen(  # noqa: S602 - Procfile lines are shell commands by definition
            command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        processes[name] = process
        buffers[name] = b""
        selector.register(process.stdout, selectors.EVENT_READ, name)
        output.write(f"{name:<{width}} | started (pid {process.pid})\n")

    # A closed terminal window or tmux pane hangs up the terminal but signals only its session leader (the shell,
    # or make above us, which then just waits): so also watch the terminal itself.
    terminal = sys.stdout.fileno() if sys.stdout.isatty() else None
    signalled_at: float | None = None
    killed = False
    while True:
        for key, _ in selector.select(timeout=0.2):
            name = key.data
            chunk = os.read(key.fileobj.fileno(), 65536)
            if not chunk:
                selector.unregister(key.fileobj)
                chunk = b"\n" if buffers[name] else b""
            *lines, buffers[name] = (buffers[name] + chunk).split(b"\n")
            for line in lines:
                output.write(f"{name:<{width}} | {line.decode(errors='replace')}\n")

        exited = [name for name, process in processes.items() if process.poll() is not None]
        if not stop_reason and (not output.open or hung_up(terminal)):
            stop_reason.append("terminal closed")
        if exited and not stop_reason:
            stop_reason.append(f"{exited[0]} exited with {processes[exited[0]].returncode}")
        if stop_reason and signalled_at is None:
            output.write(f"{'':<{width}} | stopping everything ({stop_reason[0]})\n")
            signalled_at = time.monotonic()
            signal_groups(processes, signal.SIGTERM)
        if signalled_at is not None and not killed and time.monotonic() - signalled_at > GRACE:
            output.write(f"{'':<{width}} | still running after {GRACE:.0f} s: killing\n")
            killed = True
            signal_groups(processes, signal.SIGKILL)
        if len(exited) == len(processes) and not selector.get_map():
            break
    if killed:
        # A group may outlive its leader (orphaned children): make sure nothing is left.
        signal_groups(processes, signal.SIGKILL)
    return 0 if stop_reason and stop_reason[0] in ("SIGINT", "SIGTERM", "SIGHUP", "terminal closed") else 1


def hung_up(terminal: int | None) -> bool:
    """Whether our terminal went away: every call on a hung-up terminal fails with EIO."""
    if terminal is None:
        return False
    try:
        os.tcgetpgrp(terminal)
    except OSError:
        return True
    return False


def signal_groups(processes: dict[str, subprocess.Popen], signum: int) -> None:
    for process in processes.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "Procfile.dev"))
