"""
Start the emulator as a real subprocess through its CLI, for tests and benchmarks.

``start_emulator_process(token)`` returns ``(Popen, base_url)``; ``running_emulator(token)`` and
:class:`EmulatorProcess` stop it again (SIGTERM, then kill). Logs go to the caller's stderr.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

_LISTENING = re.compile(r"^Cincopa emulator listening on (http://\S+/v2/)$")


def start_emulator_process(
    token: str, extra_args: Sequence[str] = (), timeout: float = 30.0
) -> tuple[subprocess.Popen[str], str]:
    """Run ``python -m airflow_provider_cincopa.emulator --port 0``; return it and its base URL."""
    cmd = [sys.executable, "-m", "airflow_provider_cincopa.emulator", "--port", "0", "--token", token, *extra_args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    # readline() has no timeout: read in a thread so a hung start fails the test instead of hanging it.
    threading.Thread(target=lambda: lines.put(proc.stdout.readline() if proc.stdout else ""), daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        line = ""
    match = _LISTENING.match(line.strip())
    if not match:
        stop_emulator_process(proc)
        raise RuntimeError(f"the emulator did not start (exit code {proc.returncode}): {line!r}")
    return proc, match.group(1)


def stop_emulator_process(proc: subprocess.Popen[str], timeout: float = 10.0) -> int:
    """SIGTERM (a clean stop), then kill if it lingers; return the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()
    return proc.returncode


@contextmanager
def running_emulator(token: str, extra_args: Sequence[str] = ()) -> Iterator[EmulatorProcess]:
    """``with running_emulator(token) as emu: httpx.get(emu.base_url + "ping.json", ...)``."""
    with EmulatorProcess(token, extra_args) as emu:
        yield emu


class EmulatorProcess:
    """
    The emulator CLI in a subprocess, stopped on exit; with small helpers for its ``/_emulator`` API.

    :param token: the account's api_token.
    :param extra_args: more CLI arguments.
    """

    def __init__(self, token: str, extra_args: Sequence[str] = ()) -> None:
        self.token = token
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v2/")

    def start(self) -> EmulatorProcess:
        """Start the emulator process and wait until it listens."""
        self.proc, self.base_url = start_emulator_process(self.token, self.extra_args)
        return self

    def stop(self) -> int | None:
        """Stop it (SIGTERM, then kill); return its exit code."""
        return stop_emulator_process(self.proc) if self.proc else None

    def call(self, method: str, token: str | None = None, **params: Any) -> dict[str, Any]:
        """One API call (GET, parameters in the query string); the JSON answer."""
        query = {**params, "api_token": token or self.token}
        return httpx.get(f"{self.base_url}{method}.json", params=query, timeout=30).json()

    def state(self) -> dict[str, Any]:
        """``GET /_emulator/state``: assets, galleries, webhooks, imports and the request log."""
        return httpx.get(f"{self.root_url}/_emulator/state", timeout=30).raise_for_status().json()

    def faults(self, **knobs: Any) -> None:
        """Set fault knobs (``POST /_emulator/faults``); an unknown knob is refused."""
        httpx.post(f"{self.root_url}/_emulator/faults", json=knobs, timeout=30).raise_for_status()

    def clear_faults(self) -> None:
        """Clear the fault knobs back to the start-up baseline."""
        httpx.delete(f"{self.root_url}/_emulator/faults", timeout=30).raise_for_status()

    def reset(self) -> None:
        """Forget every asset, gallery, webhook, import and logged request."""
        httpx.post(f"{self.root_url}/_emulator/reset", timeout=30).raise_for_status()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
