"""Running the web server (gunicorn) and the background worker as child processes, and stopping
them together: `rapport serve` runs the server, `rapport demo` the server and the worker.

SIGINT (Ctrl-C) and SIGTERM are passed on as SIGTERM, so that gunicorn finishes the requests in
flight and the worker its current task; what has not stopped after a grace period is killed.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType

from django.utils.translation import gettext as _

GRACE_SECONDS = 30  # gunicorn's graceful_timeout is 20 s
_BIND = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})$")


def check_bind(bind: str) -> tuple[str, int]:
    """HOST:PORT as (host, port), or ValueError saying what is wrong."""
    match = _BIND.match(bind.strip())
    if not match or not 0 < int(match["port"]) < 65536:
        raise ValueError(
            _("--bind must be HOST:PORT, e.g. 127.0.0.1:8000 (got %(bind)r)") % {"bind": bind}
        )
    return match["host"], int(match["port"])


def url_for(bind: str) -> str:
    """The address to open in a browser for a bind address (all interfaces → this machine)."""
    host, port = check_bind(bind)
    if host in {"0.0.0.0", "[::]"}:
        host = "127.0.0.1"
    return f"http://{host}:{port}/"


def server_command(bind: str, workers: int | None = None, threads: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "gunicorn", "--config", "python:rapport.core.gunicorn_conf"]
    cmd += ["--bind", bind]
    if workers:
        cmd += ["--workers", str(workers)]
    if threads:
        cmd += ["--threads", str(threads)]
    return [*cmd, "rapport.wsgi:application"]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "rapport", "worker"]


def run(
    server: list[str],
    helpers: dict[str, list[str]] | None = None,
    say: Callable[[str], None] = print,
) -> int:
    """Run the server and its helpers until the server exits or we are told to stop.

    Returns the server's exit status. A helper that dies is reported, and the server keeps going.
    """
    main = subprocess.Popen(server)
    children = {name: subprocess.Popen(cmd) for name, cmd in (helpers or {}).items()}
    stopping = False

    def terminate() -> None:
        for proc in (main, *children.values()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        terminate()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        reported: set[str] = set()
        while main.poll() is None:
            for name, proc in children.items():
                code = proc.poll()
                if code is not None and name not in reported and not stopping:
                    reported.add(name)
                    say(
                        _("The %(name)s stopped (exit status %(code)s); the server keeps running.")
                        % {"name": name, "code": code}
                    )
            time.sleep(0.2)
        if not stopping:  # the server ended on its own: take the helpers down with it
            terminate()
        _wait_or_kill([main, *children.values()])
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    code = main.returncode
    return 0 if stopping and code in (0, -signal.SIGTERM, -signal.SIGINT) else code


def _wait_or_kill(procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + GRACE_SECONDS
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
