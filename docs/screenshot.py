"""Make docs/report.png, the picture of the HTML report in the README, as it really renders.

Trains the collapse scenario at test size (examples/scenarios/collapse_high_lr.yaml, about ten seconds on a
CPU), writes its HTML report with `ceph-doctor analyze --format html`, and photographs the top of the page in
headless Chromium (Debian's package; `.ci/run` installs it where it can).

    python docs/screenshot.py [--out docs/report.png] [--height 1500]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "report.png")
    parser.add_argument("--height", type=int, default=1500, help="pixels of the page from its top")
    arguments = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        sys.exit("no Chromium on this machine: install Debian's chromium package")
    from ceph_doctor.scenarios import SCENARIO_FOLDER, load_scenario, run_scenario

    out = arguments.out.resolve()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # the report names the run as a user's would: runs/collapse_high_lr
        run = run_scenario(load_scenario(SCENARIO_FOLDER / "collapse_high_lr.yaml"), Path("runs"), size="test")
        page = Path(folder) / "report.html"
        subprocess.run([sys.executable, "-m", "ceph_doctor", "analyze", str(run), "--format", "html", "--out",
                        str(page), "--fail-on", "never"], check=True)
        subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--no-first-run", "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", f"--user-data-dir={Path(folder) / 'profile'}",
                        f"--window-size=1200,{arguments.height}", f"--screenshot={out}",
                        page.as_uri()], check=True, capture_output=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
