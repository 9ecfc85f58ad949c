"""A third-party SMSC: ``server.js`` here, on the ``smpp`` package from the npm registry.

    with NodeSmsc(delay_ms=20) as smsc:        # npm install on first use, then node server.js
        provider = SmppProvider("127.0.0.1", smsc.port, smsc.system_id, smsc.password)
        ...
        smsc.stats()      # {"binds", "submits", "outstanding", "max_outstanding",
                          #  "max_outstanding_per_bind"}
        smsc.submits()    # what it received: message_id, bind, addresses, data_coding,
                          # esm_class, text (decoded by node-smpp), concat [ref, total, n]
        smsc.send_receipt(message_id, "DELIVRD")   # the deliver_sm_resp command_status
        smsc.set_delay(5); smsc.reset()

:func:`unavailable` says why it cannot run here (no node or npm), or None.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any, Self

HERE = Path(__file__).resolve().parent
SERVER = HERE / "server.js"


def unavailable() -> str | None:
    """Why the node SMSC cannot run on this machine, or None when it can."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def ensure_installed() -> None:
    """``npm install`` the pinned ``smpp`` package beside server.js when it is missing."""
    if (HERE / "node_modules" / "smpp" / "package.json").is_file():
        return
    subprocess.run(
        ["npm", "install", "--prefix", str(HERE), "--no-audit", "--no-fund", "--silent"],
        check=True, timeout=600, stdout=subprocess.DEVNULL,
    )


class NodeSmsc:
    __test__ = False

    def __init__(self, delay_ms: float = 20, system_id: str = "senderid",
                 password: str = "secret", auto_receipt: bool = False) -> None:
        self.delay_ms = delay_ms
        self.system_id = system_id
        self.password = password
        self.auto_receipt = auto_receipt
        self.port = 0
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        ensure_installed()
        command = ["node", str(SERVER), "--port", "0", "--delay", str(self.delay_ms),
                   "--system-id", self.system_id, "--password", self.password]
        if self.auto_receipt:
            command.append("--auto-receipt")
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.port = int(self._next("listening")["port"])
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        process = self._process
        if process is None:
            return
        if process.stdin:
            process.stdin.close()  # the server exits when its stdin closes
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        self._reader.join(5)
        if process.stdout:
            process.stdout.close()
        self._process = None

    # commands ---------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        return self._command({"cmd": "stats"}, "stats")

    def submits(self) -> list[dict[str, Any]]:
        return self._command({"cmd": "submits"}, "submits")["submits"]

    def send_receipt(self, message_id: str, stat: str = "DELIVRD") -> int | None:
        answer = self._command({"cmd": "receipt", "message_id": message_id, "stat": stat}, "receipt")
        return answer["status"]

    def set_delay(self, ms: float) -> None:
        self._command({"cmd": "delay", "ms": ms}, "delay")

    def reset(self) -> None:
        self._command({"cmd": "reset"}, "reset")

    # plumbing ---------------------------------------------------------------------------

    def _command(self, command: dict[str, Any], event: str) -> dict[str, Any]:
        assert self._process is not None and self._process.stdin is not None, "not started"
        with self._lock:
            self._process.stdin.write(json.dumps(command) + "\n")
            self._process.stdin.flush()
            return self._next(event)

    def _next(self, event: str, timeout: float = 30.0) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"the node SMSC did not answer {event!r}") from None
        if line is None:
            raise RuntimeError("the node SMSC exited")
        answer = json.loads(line)
        if answer.get("event") != event:
            raise RuntimeError(f"the node SMSC answered {answer!r} to {event!r}")
        return answer

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            if line.strip():
                self._lines.put(line)
        self._lines.put(None)
