"""A real `deskgate` child process that a test can SIGKILL and start again (the crash tests of
the sender and the auto-answer stage)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from deskgate.queue.redis_server import REDIS_URL_ENV


class DeskgateProcess:
    def __init__(self, command: list[str], config_file: Path, data_dir: Path, redis_url: str,
                 slot: str) -> None:
        self._argv = [sys.executable, "-m", "deskgate.gateway.cli.main", *command,
                      "--config", str(config_file), "--data-dir", str(data_dir)]
        # the same slot across restarts: the replacement takes its predecessor's pending
        # entries at once, as serve's WorkerPool does
        self._env = {**os.environ, REDIS_URL_ENV: redis_url, "DESKGATE_WORKER_SLOT": slot}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self._argv, env=self._env, stdin=subprocess.DEVNULL)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
