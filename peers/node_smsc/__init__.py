"""A third-party SMSC: ``smsc.js`` here, on the ``smpp`` package from the npm registry.

    with NodeSmsc(delay_ms=20) as smsc:        # npm install on first use, then node smsc.js
        provider = SmppProvider("127.0.0.1", smsc.port, smsc.system_id, smsc.password)
        ...
        smsc.stats()      # {"binds", "bound", "submits", "outstanding", "max_outstanding",
                          #  "max_outstanding_per_bind", "handoffs", "distinct", "twice",
                          #  "refused", "times"}
        smsc.submits()    # what it received: message_id, bind, addresses, data_coding,
                          # esm_class, text (decoded by node-smpp), concat [ref, total, n]
        smsc.send_receipt(message_id, "DELIVRD")   # the deliver_sm_resp command_status
        smsc.set_delay(5); smsc.reset()
        smsc.plain_client(window=10, seconds=3)    # a plain node ESME against it

``NodeSmsc(control=True)`` also answers the HTTP control paths of the other peers
(``/healthz``, ``/_peer/stats``, ``/_peer/first``, ``/_peer/reset``) at ``smsc.control_url``.
:func:`unavailable` says why it cannot run here (no node or npm), or None; the ``smpp``
package is installed beside ``smsc.js`` (``node_modules``, from ``package-lock.json``) by
:func:`ensure_installed` on first use.
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
SCRIPT = HERE / "smsc.js"


def unavailable() -> str | None:
    """Why the node SMSC cannot run on this machine, or None when it can."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def installed() -> bool:
    return (HERE / "node_modules" / "smpp" / "package.json").is_file()


def ensure_installed() -> None:
    """``npm install`` the pinned ``smpp`` package beside smsc.js when it is missing."""
    if installed():
        return
    subprocess.run(
        ["npm", "install", "--prefix", str(HERE), "--no-audit", "--no-fund", "--silent"],
        check=True, timeout=600, stdout=subprocess.DEVNULL,
    )


class NodeSmsc:
    __test__ = False

    def __init__(self, delay_ms: float = 20, system_id: str = "senderid",
                 password: str = "secret", auto_receipt: bool = False, control: bool = False,
                 log_path: Path | None = None) -> None:
        self.delay_ms = delay_ms
        self.system_id = system_id
        self.password = password
        self.auto_receipt = auto_receipt
        self.control = control
        self.log_path = log_path  # where node's stderr goes (None: this process's stderr)
        self.port = 0
        self.control_port: int | None = None
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        ensure_installed()
        command = ["node", str(SCRIPT), "--port", "0", "--delay", str(self.delay_ms),
                   "--system-id", self.system_id, "--password", self.password]
        if self.auto_receipt:
            command.append("--auto-receipt")
        if self.control:
            command += ["--control-port", "0"]
        log = self.log_path.open("ab") if self.log_path is not None else None
        try:
            self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=log, text=True, bufsize=1)
        finally:
            if log is not None:
                log.close()  # the child has its own copy
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            listening = self._next("listening")
            self.port = int(listening["port"])
            self.control_port = listening["control_port"]
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

    @property
    def control_url(self) -> str:
        assert self.control_port is not None, "started without control=True"
        return f"http://127.0.0.1:{self.control_port}"

    # commands ---------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
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

    def plain_client(self, window: int, seconds: float) -> dict[str, Any] | None:
        """A plain node ESME (node-smpp) bound once, keeping ``window`` submit_sm outstanding for
        ``seconds``: ``{"done", "failed", "seconds"}``, or None when it failed."""
        result = subprocess.run(
            ["node", str(SCRIPT), "--client", "--port", str(self.port), "--window", str(window),
             "--seconds", str(seconds), "--system-id", self.system_id, "--password", self.password],
            capture_output=True, text=True, timeout=seconds + 30)
        line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if result.returncode != 0 or line is None:
            return None
        answer: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
        return answer

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
