"""`rapport serve` runs a real gunicorn that serves pages and static files (whitenoise) and stops
cleanly on SIGTERM; `rapport demo` serves with the background worker beside it, and Ctrl-C stops
both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.demo.conftest import free_port, rapport, wait_for_port


def session_commands(sid: int) -> list[str]:
    """The command lines of every live process in a session (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(cmdline)
    return found


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=20) as response:
        return response.status, dict(response.headers), response.read()


@pytest.mark.slow
def test_serve_runs_gunicorn_with_static_files_and_stops_on_sigterm(tmp_path, rapport_env):
    migrate = subprocess.run(
        [sys.executable, "-m", "rapport", "migrate", "-v", "0"],
        env=rapport_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert migrate.returncode == 0, migrate.stderr
    port = free_port()
    server = rapport(
        "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2",
        env=rapport_env, cwd=tmp_path, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_port(port, server)
        assert any("gunicorn" in c for c in session_commands(server.pid))
        status, _headers, body = get(f"http://127.0.0.1:{port}/accounts/login/")
        assert status == 200 and b'name="password"' in body

        manifest = json.loads((tmp_path / "var" / "static" / "staticfiles.json").read_text())
        hashed = manifest["paths"]["admin/css/base.css"]
        status, headers, body = get(f"http://127.0.0.1:{port}/static/{hashed}")
        assert status == 200 and b"body" in body
        assert "immutable" in headers["Cache-Control"]  # whitenoise, for a hashed name
        status, _headers, _body = get(f"http://127.0.0.1:{port}/static/admin/css/base.css")
        assert status == 200

        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert server.returncode == 0, err
    assert f"Rapport is serving at http://127.0.0.1:{port}/" in out
    assert "GET /accounts/login/" in out  # the access log goes to stdout
    assert session_commands(server.pid) == []  # gunicorn and its workers are gone too


@pytest.mark.slow
def test_demo_serves_with_the_worker_and_ctrl_c_stops_both(tmp_path, rapport_env):
    port = free_port()
    demo = rapport(
        "demo", "--customers", "20", "--as-of", "2025-06-30", "--bind", f"127.0.0.1:{port}",
        "--workers", "1", "--threads", "2",
        env=rapport_env, cwd=tmp_path, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_port(port, demo, timeout=180)
        deadline = time.monotonic() + 30
        while not any("rapport worker" in c for c in session_commands(demo.pid)):
            assert time.monotonic() < deadline, session_commands(demo.pid)
            time.sleep(0.2)
        status, _headers, body = get(f"http://127.0.0.1:{port}/accounts/login/")
        assert status == 200
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    assert demo.returncode == 0, err
    assert "Password for every demo login" in out
    assert "The background worker stopped" not in err
    assert session_commands(demo.pid) == []


def test_serve_refuses_bad_options_before_doing_anything(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path / "static"
    with pytest.raises(CommandError, match="--workers"):
        call_command("serve", "--workers", "0")
    with pytest.raises(CommandError, match="HOST:PORT"):
        call_command("serve", "--bind", "8000")
    assert not settings.STATIC_ROOT.exists()
