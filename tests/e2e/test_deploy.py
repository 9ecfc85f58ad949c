"""``deploy/``: the Dockerfile, compose.yaml and the systemd units, each step exercised here,
outside a container (this machine reaches no image registry).

* Dockerfile: its steps run in order in a temporary root (``/src``, ``/opt/senderid`` and
  ``/var/lib/senderid`` mapped under it): ``COPY`` copies, ``RUN`` runs with bash, ``ENV``
  and ``WORKDIR`` apply; then its ``ENTRYPOINT`` + ``CMD`` is started (on a loopback port
  instead of 0.0.0.0:8080) and its ``HEALTHCHECK`` must pass against it. Two shortcuts, both
  here and nowhere else: the image's ``python`` is this interpreter, and the fresh venv sees
  the test virtualenv's packages (a ``.pth`` file), so ``pip install`` builds senderid
  itself without fetching its dependencies again; ``useradd`` is not run (it would add a
  user to this machine), only checked against ``USER``.
* compose.yaml: every command of the senderid image parses as a real ``senderid`` command,
  every ``SENDERID_*`` variable (in the file and in its ``env_file``'s example) is a real
  setting, the secrets are in the ``env_file`` only; then the stack runs as processes on a
  fresh PostgreSQL database, in the order ``depends_on`` gives (migrate, the servers, the
  workers as many as ``replicas``), an OTP queued through the server is delivered by the
  workers, and each worker's own health check passes against it.
* deploy/requirements.lock: every dependency of ``pyproject.toml`` pinned to one version
  its range allows, and the Dockerfile installs from it.
* The systemd units: ``systemd-analyze verify`` (with ExecStart pointing at this
  virtualenv), and their commands and settings checked the same way.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from peers.processes import free_port, wait_healthy
from senderid.cli.main import command
from senderid.settings import Settings
from tests.support.commands import SENDERID, clean_env, fresh_postgres, started

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS = {f"SENDERID_{name.upper()}" for name in Settings.model_fields}

pytestmark = pytest.mark.slow


def parses(args: list[str]) -> None:
    """``senderid ARGS`` is a real command with valid options (parsed by click, not run)."""
    cli: object = command()
    ctx = cli.make_context("senderid", list(args))
    while hasattr(cli, "commands"):
        name, cli, rest = cli.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        assert cli is not None, f"no command {name!r} in {args}"
        ctx = cli.make_context(name, rest, parent=ctx)
    assert not ctx.args, f"left over: {ctx.args}"


# -- Dockerfile ---------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in lines]


def exec_form(value: str) -> list[str]:
    return json.loads(value) if value.startswith("[") else shlex.split(value)


def test_the_dockerfile_builds_and_its_command_serves(tmp_path: Path) -> None:
    steps = instructions(DEPLOY / "Dockerfile")
    assert steps[0] == ("FROM", "python:3.11-slim")  # the oldest Python pyproject.toml allows
    mapping = {"/src": tmp_path / "src", "/opt/senderid": tmp_path / "opt" / "senderid",
               "/var/lib/senderid": tmp_path / "home"}

    def mapped(text: str) -> str:
        for inside, outside in mapping.items():
            text = re.sub(rf"{re.escape(inside)}(?=[/\s:\"']|$)", str(outside), text)
        return text

    image_bin = tmp_path / "image-bin"
    image_bin.mkdir()
    (image_bin / "python").symlink_to(sys.executable)
    env = clean_env(PATH=f"{image_bin}:/usr/bin:/bin", PIP_DISABLE_PIP_VERSION_CHECK="1")
    cwd, users, user, entrypoint, cmd, healthcheck, ran = tmp_path, [], None, [], [], [], []
    for instruction, value in steps[1:]:
        if instruction == "ENV":
            for name, item in re.findall(r"(\w+)=(\S+)", value):
                env[name] = mapped(item.replace("$PATH", env["PATH"]))
        elif instruction == "WORKDIR":
            cwd = Path(mapped(value))
            cwd.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, dest = value.split()
            target = cwd / dest
            for source in sources:  # a directory's contents go into dest; a file, into the directory dest
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / source, target / Path(source).name)
        elif instruction == "RUN":
            if value.startswith("useradd "):
                users.append(value.split()[-1])
                continue
            result = subprocess.run(["bash", "-c", mapped(value)], cwd=cwd, env=env, capture_output=True,
                                    text=True, timeout=300)
            assert result.returncode == 0, f"RUN {value}\n{result.stdout}\n{result.stderr}"
            ran.append(value)
            if " -m venv " in value:  # the shortcut: the venv sees this test's dependencies
                site = next(Path(mapped(value.split()[-1])).glob("lib/python3*/site-packages"))
                (site / "test-dependencies.pth").write_text(
                    next(p for p in sys.path if p.endswith("site-packages")) + "\n")
        elif instruction == "USER":
            user = value
        elif instruction == "ENTRYPOINT":
            entrypoint = exec_form(value)
        elif instruction == "CMD":
            cmd = exec_form(value)
        elif instruction == "HEALTHCHECK":
            healthcheck = exec_form(value.split("CMD", 1)[1].strip())
        else:
            assert instruction == "EXPOSE" and value == "8080", (instruction, value)
    assert any("pip install" in step for step in ran) and user in users
    assert entrypoint == ["senderid"] and shutil.which("senderid", path=env["PATH"])
    parses(cmd)
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0" and cmd[cmd.index("--port") + 1] == "8080"

    port = free_port()
    args = [a.replace("0.0.0.0", "127.0.0.1").replace("8080", str(port)) for a in cmd]
    binary = shutil.which(entrypoint[0], path=env["PATH"])
    process = subprocess.Popen([binary, *args], cwd=cwd, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        probe = [healthcheck[0], *(a.replace("8080", str(port)) for a in healthcheck[1:])]
        assert subprocess.run([str(image_bin / probe[0]), *probe[1:]], env=env, timeout=30).returncode == 0
        assert "version" in httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["info"]
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert (cwd / "senderid.db").exists()  # SQLite in the WORKDIR (the image's default)


# -- compose.yaml -------------------------------------------------------------------------


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_has_the_three_parts_and_real_commands_and_settings() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "migrate", "senderid", "worker"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:")
    example = dict(line.split("=", 1) for line in (DEPLOY / "compose.env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    for name in ("migrate", "senderid", "worker"):
        service = services[name]
        assert service["image"] == "senderid:local"
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == \
            (DEPLOY / "Dockerfile").resolve()
        parses(service["command"])
        for variable, value in service["environment"].items():
            assert variable in SETTINGS, f"{name}: {variable} is not a setting"
            for needed in re.findall(r"\$\{(\w+)", str(value)):
                assert needed in example, f"{needed} is not in compose.env.example"
        for dependency in service.get("depends_on", {}):
            assert dependency in services
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["senderid"]["environment"]["SENDERID_WORKER_IN_PROCESS"] == "false"
    # the secrets and the provider's settings come from the env_file, which the example shows
    for name in ("migrate", "senderid", "worker"):
        assert [entry["path"] for entry in services[name]["env_file"]] == [".env"]
        assert not {"SENDERID_SECRET_KEY", "SENDERID_ADMIN_TOKEN", "SENDERID_SMS_PROVIDER"} & set(
            services[name]["environment"])
    listed = re.findall(r"^#? ?(SENDERID_\w+)=", (DEPLOY / "compose.env.example").read_text(), re.MULTILINE)
    assert {"SENDERID_SECRET_KEY", "SENDERID_ADMIN_TOKEN", "SENDERID_SMS_PROVIDER"} <= set(listed)
    assert set(listed) <= SETTINGS
    # the workers' own health check (the image's probes the server's /readyz, which they do not serve)
    probe = services["worker"]["healthcheck"]["test"]
    assert probe[0] == "CMD" and "/readyz" not in " ".join(probe)
    port = services["worker"]["command"][services["worker"]["command"].index("--metrics-port") + 1]
    assert f"127.0.0.1:{port}/metrics" in probe[-1]
    assert services["migrate"]["healthcheck"] == {"disable": True}
    url = services["senderid"]["environment"]["SENDERID_DATABASE_URL"]
    pg = services["postgres"]["environment"]
    assert url.startswith(f"postgresql://{pg['POSTGRES_USER']}:")
    assert url.endswith(f"@postgres:5432/{pg['POSTGRES_DB']}")
    assert all(port.startswith("127.0.0.1:") for port in services["senderid"]["ports"])


def test_the_compose_stack_runs_as_processes(tmp_path: Path) -> None:
    services = _compose()["services"]
    with fresh_postgres() as url, ExitStack() as stack:

        def env_of(name: str) -> dict[str, str]:
            values = {k: str(v) for k, v in services[name]["environment"].items()}
            values["SENDERID_DATABASE_URL"] = url  # the compose URL with this machine's PostgreSQL
            values["SENDERID_SECRET_KEY"] = "compose-test-secret-" + "s" * 32
            values["SENDERID_SMS_PROVIDER"] = "devinbox"
            values["SENDERID_WORKER_POLL_SECONDS"] = "0.05"  # other processes' SMS are found by the poll
            return clean_env(**values)

        migrated = subprocess.run([str(SENDERID), *services["migrate"]["command"]], cwd=tmp_path,
                                  env=env_of("migrate"), capture_output=True, text=True, timeout=60)
        assert migrated.returncode == 0, migrated.stderr
        port = free_port()
        serve = [a.replace("0.0.0.0", "127.0.0.1").replace("8080", str(port))
                 for a in services["senderid"]["command"]]
        server = stack.enter_context(started(*serve, port=port, cwd=tmp_path, env=env_of("senderid")))
        # each worker in a container of its own has the port to itself: here, one port each
        worker_command = services["worker"]["command"]
        metrics_port = worker_command[worker_command.index("--metrics-port") + 1]
        assert metrics_port in [str(p) for p in services["worker"]["expose"]]  # on by default
        worker_ports = [str(free_port()) for _ in range(services["worker"]["deploy"]["replicas"])]
        workers = [subprocess.Popen([str(SENDERID), *(a.replace("0.0.0.0", "127.0.0.1").replace(metrics_port, p)
                                                      for a in worker_command)],
                                    cwd=tmp_path, env=env_of("worker"), stderr=subprocess.PIPE, text=True)
                   for p in worker_ports]
        for worker in workers:
            stack.callback(lambda w=worker: (w.terminate(), w.communicate(timeout=30)))
        base = f"http://127.0.0.1:{port}"
        account = subprocess.run([str(SENDERID), "account", "create", "Compose"], cwd=tmp_path,
                                 env=env_of("senderid"), capture_output=True, text=True).stdout.strip()
        key = subprocess.run([str(SENDERID), "key", "create", account], cwd=tmp_path,
                             env=env_of("senderid"), capture_output=True, text=True).stdout.strip()
        added = httpx.post(f"{base}/api/v1/customNumber/add", headers={"Authorization": f"Bearer {key}"},
                           json={"name": "Line", "number": "+61491570158"}, timeout=10)
        assert added.json()["message"] == "OTP sent to your number successfully", added.text
        deadline = time.monotonic() + 15
        while not [m for m in httpx.get(f"{base}/dev/inbox.json").json() if m["to"] == "+61491570158"]:
            assert time.monotonic() < deadline, "no worker delivered the OTP"
            assert all(w.poll() is None for w in workers)
            time.sleep(0.05)
        assert server.poll() is None
        sent = 0.0
        for worker_port in worker_ports:  # each worker's own metrics; together they sent the OTP
            text = httpx.get(f"http://127.0.0.1:{worker_port}/metrics", timeout=5).text
            assert "senderid_outbox_messages" in text
            sent += sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                        if line.startswith('senderid_sms_sends_total{') and 'outcome="sent"' in line)
        assert sent == 1
        _, python, *probe = services["worker"]["healthcheck"]["test"]
        assert python == "python"
        for p in worker_ports:
            healthy = subprocess.run([sys.executable, *(a.replace(metrics_port, p) for a in probe)], timeout=30)
            assert healthy.returncode == 0, f"the worker on {p} fails its health check"
        stopped = [str(free_port())]  # and the check fails where no worker answers
        assert subprocess.run([sys.executable, *(a.replace(metrics_port, stopped[0]) for a in probe)],
                              capture_output=True, timeout=30).returncode != 0


# -- the lock file -------------------------------------------------------------------------


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (DEPLOY / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")  # exact pins only, no ranges, no markers
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_the_lock_pins_every_dependency_of_pyproject_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in deploy/requirements.lock: regenerate it"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"deploy/requirements.lock pins {name}=={pins[name]}, outside pyproject.toml's {requirement.specifier}")
    # the image serves: none of the test tools (PyYAML, also a test extra, comes with uvicorn[standard])
    assert not {"pytest", "pytest-xdist", "schemathesis", "playwright", "mypy", "ruff", "httpx2"} & set(pins)
    assert "senderid" not in pins


def test_the_dockerfile_installs_the_locked_versions_and_nothing_else() -> None:
    runs = [value for instruction, value in instructions(DEPLOY / "Dockerfile") if instruction == "RUN"]
    copies = [value for instruction, value in instructions(DEPLOY / "Dockerfile") if instruction == "COPY"]
    assert any("deploy/requirements.lock" in c.split()[:-1] for c in copies)
    installs = [r for r in runs if "pip install" in r]
    assert installs == ["/opt/senderid/bin/pip install --no-cache-dir -r /src/requirements.lock",
                        "/opt/senderid/bin/pip install --no-cache-dir --no-deps /src"]


# -- systemd ------------------------------------------------------------------------------


def _unit(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize("unit", ["senderid.service", "senderid-worker@.service"])
def test_the_systemd_units_verify_and_run_real_commands(tmp_path: Path, unit: str) -> None:
    fields = _unit(DEPLOY / unit)
    [exec_start] = fields["ExecStart"]
    binary, *args = shlex.split(exec_start.replace("%i", "1"))  # the instance senderid-worker@1
    assert binary == "/opt/senderid/bin/senderid"  # the Dockerfile's and docs/deploy.md's venv
    parses(args)
    if unit.startswith("senderid-worker@"):  # its metrics are served by default, a port per instance
        assert args[args.index("--metrics-port") + 1] == "9101"
    for assignment in fields.get("Environment", []):
        name = assignment.split("=", 1)[0]
        assert name in SETTINGS, name
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: the unit was parsed, not verified")
    copy = tmp_path / unit
    copy.write_text((DEPLOY / unit).read_text().replace("/opt/senderid/bin/senderid", str(SENDERID))
                    .replace("/var/lib/senderid", str(tmp_path)))
    name = unit.replace("@.", "@1.")
    if name != unit:
        (tmp_path / name).symlink_to(copy)
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / name)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
