"""Start the emulator as a real subprocess through its CLI, for tests and benchmarks."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

_LISTENING = re.compile(r"listening on (http://\S+)")


class EmulatorProcess:
    """
    ``python -m airflow_provider_cincopa.emulator --port 0`` in a subprocess, stopped on exit.

    :param token: the account's api_token.
    :param extra_args: more CLI arguments.
    """

    def __init__(self, token: str, extra_args: Sequence[str] = ()) -> None:
        self.token = token
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def start(self) -> EmulatorProcess:
        cmd = [sys.executable, "-m", "airflow_provider_cincopa.emulator", "--port", "0", "--token", self.token]
        self.proc = subprocess.Popen([*cmd, *self.extra_args], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        line = self.proc.stdout.readline()
        match = _LISTENING.search(line)
        if not match or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.base_url = match.group(1)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
