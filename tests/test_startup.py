"""What answering a command costs at start: `analyze RUN --format json` and `--help` import none of the heavy
libraries (pandas, pydantic, scipy, matplotlib, torch), whose imports alone would take longer than the answer
should (`benchmarks/startup.py` measures the seconds; a test only checks which modules were imported)."""

import ast
import json
import subprocess
import sys

import pytest
from conftest import TINY

from ceph_doctor.config import load_config
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder

HEAVY = ("pandas", "pydantic", "typer", "scipy", "matplotlib", "torch")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("startup") / "run"
    Trainer(load_config(None, TINY), run_dir, hooks=[Recorder(run_dir)]).fit()
    return run_dir


def imported_when_run(*args: str) -> tuple[list[str], subprocess.CompletedProcess]:
    """The heavy libraries a `ceph-doctor ARGS` process had imported when it ended, and the process."""
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print(sorted(name for name in {HEAVY!r} if name in sys.modules), file=sys.stderr))\n"
        "from ceph_doctor.cli.main import main\n"
        f"sys.argv = ['ceph-doctor', *{list(args)!r}]\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return ast.literal_eval(result.stderr.strip().splitlines()[-1]), result  # the list printed last, at exit


def test_analyze_json_reads_and_judges_a_run_without_the_heavy_libraries(finished_run):
    imported, result = imported_when_run("analyze", str(finished_run), "--format", "json", "--fail-on", "never")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["runs"][0]["path"] == str(finished_run)
    assert imported == []


def test_help_imports_none_of_them():
    imported, result = imported_when_run("--help")
    assert result.returncode == 0 and "Example: ceph-doctor" in result.stdout
    assert imported == []
