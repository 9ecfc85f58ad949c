"""The documented walk-through runs as written (examples/walkthrough.sh, docs/walkthrough.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from peers.processes import free_port

ROOT = Path(__file__).parents[2]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through uses curl")
def test_walkthrough_runs() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDERID_")}
    env.update(PORT=str(free_port()), HOOK_PORT=str(free_port()),
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    result = subprocess.run(["bash", str(ROOT / "examples" / "walkthrough.sh")], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "OTP Verified Successfully!" in out
    assert "You may not send as 'AcmeShop'" in out
    assert out.count('"Request is being processed"') == 2
    assert "signed custom_number.verified" in out
    assert "signed business_name.approved" in out
    assert out.count("signed message.sent") == 2
    assert "BAD SIGNATURE" not in out
