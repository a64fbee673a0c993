"""The wheel a user installs works without the source tree (scripts/check_wheel_install.sh, ~75 s)."""

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_wheel_install.sh"


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_works_outside_the_source():
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=900)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    checks = [line for line in lines if line.startswith("ok ")]
    assert len(checks) == 10 and not any(line.startswith("FAIL") for line in lines), done.stdout
    assert lines[-1].startswith("all checks passed")
