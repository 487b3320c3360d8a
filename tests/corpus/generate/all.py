"""Regenerate the whole corpus: python tests/corpus/generate/all.py

Runs each tool's generator in turn (each in its own process, so one tool's global state cannot leak into
another's), then prints the review of every case (review.py). Deterministic by seed: the same numbers on the
same machine; wall-clock times, MLflow run ids and MMEngine timestamp folders differ from run to run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOOLS = ["with_prints.py", "with_pandas.py", "with_tensorboard.py", "with_mlflow.py", "with_lightning.py",
         "with_mmengine.py", "with_hf.py", "with_keras.py"]

if __name__ == "__main__":
    started = time.time()
    for script in TOOLS:
        t = time.time()
        subprocess.run([sys.executable, str(HERE / script)], check=True, cwd=HERE)
        print(f"{script}: {time.time() - t:.0f} s", flush=True)
    print(f"all cases written in {time.time() - started:.0f} s", flush=True)
    if "--no-review" not in sys.argv:
        subprocess.run([sys.executable, str(HERE / "review.py")], check=True, cwd=HERE)
