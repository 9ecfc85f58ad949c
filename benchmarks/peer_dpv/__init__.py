"""The peer of the flow row: django-phone-verify 3.3 on Django REST framework and gunicorn.

django-phone-verify is the simplest self-hosted phone verification service: ``POST
/api/phone/register`` with a ``phone_number`` stores a security code and answers a
``session_token``; ``POST /api/phone/verify`` with the number, the code and the token
checks them. ``benchmarks.run`` measures its register -> verify flow right after
senderid's add -> verify flow and the ceiling's, on the same machine, with the same
wrk settings (``benchmarks/lua/dpv_flow.lua``, one connection per wrk thread, fresh
numbers), and prints senderid ÷ peer.

* :func:`ensure_venv` installs ``requirements.txt`` (exact pins) into its own
  virtualenv, ``benchmarks/out/peer-venv`` (created on first use, installed again when
  the pins change; about a minute with PyPI reachable);
* :class:`Peer` migrates one SQLite database (WAL) with Django's ``migrate`` and
  copies it for each server, so every measurement starts from an empty table;
* :meth:`Peer.server` runs ``dpv_site`` (this folder: settings, urls with
  django-phone-verify's router, a no-op SMS backend with a fixed code) under gunicorn on
  a free loopback port, with gunicorn's default sync workers;
* :func:`preflight` checks the flow answers what django-phone-verify documents, and that
  a wrong code and a reused token are refused (so the code check is real).

Workers: gunicorn's documentation recommends ``(2 x $num_cores) + 1``, :data:`WORKERS`
(5 on 2 cores); the run also measures one worker, the like of senderid's one process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from benchmarks import harness
from peers import processes
from peers.processes import Process

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
VENV = HERE.parent / "out" / "peer-venv"
SECRET = "bench-peer-secret-" + "p" * 40
CODE = harness.TEST_CODE
WORKERS = 2 * (os.cpu_count() or 1) + 1  # gunicorn's documented recommendation
NAME = "django-phone-verify"


def _python(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / "python"


def _stamp(venv: Path) -> Path:
    return venv / ".installed-requirements"


def installed(venv: Path = VENV) -> bool:
    """Whether ``venv`` holds exactly ``requirements.txt`` (then :func:`ensure_venv` installs nothing)."""
    stamp = _stamp(venv)
    return _python(venv).exists() and stamp.exists() and stamp.read_text() == REQUIREMENTS.read_text()


def ensure_venv(venv: Path = VENV, log=lambda line: print(line, file=sys.stderr, flush=True)) -> Path:
    """The virtualenv's python, with ``requirements.txt`` installed (once per change of the pins)."""
    python = _python(venv)
    if installed(venv):
        return python
    wanted = REQUIREMENTS.read_text()
    stamp = _stamp(venv)
    log(f"installing {NAME} and its stack into {venv} (once)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                             "-r", str(REQUIREMENTS)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip could not install {REQUIREMENTS} into {venv} (run with --no-peer to "
                           f"skip the peer):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    stamp.write_text(wanted)
    return python


def versions(python: Path) -> str:
    """``name version`` of the peer's packages, for the report's machine list."""
    names = ["django-phone-verify", "Django", "djangorestframework", "gunicorn"]
    code = ("from importlib.metadata import version; import sys; "
            "print(', '.join(f'{n} {version(n)}' for n in sys.argv[1:]))")
    result = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def _env(database: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SENDERID_")}
    env.pop("VIRTUAL_ENV", None)
    env.update({
        "DJANGO_SETTINGS_MODULE": "dpv_site.settings",
        "DPV_DATABASE": str(database),
        "DPV_SECRET_KEY": SECRET,
        "DPV_CODE": CODE,
        "PYTHONPATH": str(HERE),
    })
    return env


class Peer:
    """The installed peer and a migrated, empty database to copy for each server."""

    def __init__(self, workdir: Path, python: Path | None = None) -> None:
        self.python = python or ensure_venv()
        self.workdir = workdir
        self.template = workdir / "peer-template.db"
        self.servers = 0
        result = subprocess.run([str(self.python), "-m", "django", "migrate", "--verbosity", "0"],
                                env=_env(self.template), capture_output=True, text=True, cwd=HERE)
        if result.returncode != 0:
            raise RuntimeError(f"{NAME}: migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        self.versions = versions(self.python)

    @contextmanager
    def server(self, workers: int, log_path: Path | None = None) -> Iterator[Process]:
        """gunicorn serving ``dpv_site`` with ``workers`` sync workers, on a fresh copy of the database."""
        self.servers += 1
        database = self.workdir / f"peer-{self.servers}.db"
        shutil.copyfile(self.template, database)
        port = processes.free_port()
        gunicorn = self.python.parent / "gunicorn"
        argv = [str(gunicorn), "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--chdir", str(HERE),
                "--no-control-socket", "dpv_site.wsgi"]
        name = f"{NAME} ({workers} worker{'s' if workers != 1 else ''})"
        with harness.run_server(name, argv, _env(database), port, log_path) as server:
            yield server


def preflight(server: Process, number: str) -> None:
    """register -> verify answers 200 with django-phone-verify's bodies; a wrong code and a reused token fail."""
    with httpx.Client(base_url=server.base, timeout=10) as client:
        register = client.post("/api/phone/register", json={"phone_number": number})
        if register.status_code != 200 or "session_token" not in register.json():
            raise RuntimeError(f"{server.name}: register answered {register.status_code}: {register.text[:300]}")
        token = register.json()["session_token"]
        wrong = str((int(CODE) + 1) % 10 ** len(CODE)).zfill(len(CODE))
        answers = [client.post("/api/phone/verify", json={"phone_number": number, "security_code": code,
                                                          "session_token": token})
                   for code in (wrong, CODE, CODE)]
        statuses = [r.status_code for r in answers]
        if statuses != [400, 200, 400] or answers[1].json() != {"message": "Security code is valid."}:
            raise RuntimeError(f"{server.name}: verify with a wrong, the right and the right code again answered "
                               f"{statuses} (expected [400, 200, 400]): {[r.text[:200] for r in answers]}")
