"""Running the command line as a user does, and checking its one-line errors."""

import subprocess
import sys


def ceph_doctor(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "ceph_doctor", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
