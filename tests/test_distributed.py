"""torch.distributed: `torchrun --standalone --nproc_per_node=2 -m ceph_doctor train` on CPU (gloo).

One real 2-process run, launched the way a user launches it, then checked:
only rank 0 writes; every rank's shard of the predictions is gathered, in
the single-process run's rows; and the gathered predictions are exactly the
saved checkpoint's, evaluated in one process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from ceph_doctor import load_run
from ceph_doctor.config import load_config
from ceph_doctor.pipeline import Pipeline, load_splits
from ceph_doctor.store.checkpoint import load_checkpoint
from ceph_doctor.train.evaluate import evaluate_split
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder
from ceph_doctor.train.setup import data_for

from conftest import TINY  # tests/ is on sys.path (rootdir conftest, no package)

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="torch.distributed with the gloo backend is not available",
)

WORLD_SIZE = 2
# 7 validation images: the ranks' shards are uneven (4 + 3), so reassembly is tested where it can go wrong.
OVERRIDES = [*TINY, "data.synthetic.val_images=7", "train.device=cpu"]
LAUNCH_TIMEOUT_S = 240


def launch(out, name: str, *extra: str) -> subprocess.CompletedProcess:
    """`torchrun --standalone` (a free port on localhost, chosen by torchrun itself) as a user would type it."""
    arguments = ["-m", "ceph_doctor", "train", "--out", str(out), "--name", name]
    for override in [*OVERRIDES, *extra]:
        arguments += ["--set", override]
    result = torchrun(arguments)
    if result.returncode != 0 and TEARDOWN_ABORT in result.stdout and "completed: run written" in result.stdout:
        # Known and rare (about 1 launch in 20 here): a worker aborts in gloo's teardown after the run has
        # completed and every record is written. It is not what these tests examine; launch once more.
        shutil.rmtree(out / name, ignore_errors=True)
        result = torchrun(arguments)
    return result


TEARDOWN_ABORT = "terminate called without an active exception"


def torchrun(arguments: list[str], timeout_s: float = LAUNCH_TIMEOUT_S) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD_SIZE}", *arguments
    ]
    env = {key: value for key, value in os.environ.items() if key not in _TORCHRUN_VARIABLES}
    env["OMP_NUM_THREADS"] = "1"  # what torchrun gives each worker by default; the comparison below matches it
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # keep gloo on the loopback, whatever the hostname resolves to
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # torchrun and both workers: a hung collective must not hang CI
        output, _ = process.communicate()
        pytest.fail(f"torchrun did not finish in {timeout_s} s:\n{output[-4000:]}")
    return subprocess.CompletedProcess(command, process.returncode, output)


_TORCHRUN_VARIABLES = {
    "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK", "MASTER_ADDR", "MASTER_PORT",
    "TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_MAX_RESTARTS", "TORCHELASTIC_USE_AGENT_STORE",
}


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "runs"
    result = launch(out, "ddp")
    assert result.returncode == 0, result.stdout[-4000:]
    return out, out / "ddp", result.stdout


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("single") / "run"
    Trainer(load_config(None, OVERRIDES), run_dir, hooks=[Recorder(run_dir)]).fit()
    return run_dir


def test_only_rank_zero_writes(ddp_run):
    out, run_dir, output = ddp_run
    assert [path.name for path in out.iterdir()] == ["ddp"]
    run = load_run(run_dir)
    manifest = run.manifest
    assert manifest["status"] == "completed"
    assert manifest["world_size"] == WORLD_SIZE
    # One writer: no scalar twice, one TensorBoard file, one prediction file per validation.
    assert not run.scalars.duplicated(["step", "tag"]).any()
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert sorted(path.name for path in (run_dir / "predictions").iterdir()) == [
        "epoch-00001.parquet", "epoch-00002.parquet"
    ]
    # 16 images, 2 ranks, batch 4: each rank takes 2 steps an epoch, and a step is logged once.
    assert run.scalar("train/loss").index.tolist() == [1, 2, 3, 4]
    assert manifest["steps_per_epoch"] == 2
    assert output.count("run written to") == 1  # only rank 0 prints the summary


def test_gathered_rows_are_the_single_process_rows(ddp_run, single_run):
    ddp = load_run(ddp_run[1]).predictions
    single = load_run(single_run).predictions
    config = load_config(None, OVERRIDES)
    validations = config["train"]["max_epochs"]
    images = config["data"]["synthetic"]["val_images"] + config["data"]["train_subset"]
    assert len(ddp) == validations * images * len(load_run(single_run).landmarks)
    keys = ["epoch", "split", "image_id", "landmark"]
    assert not ddp.duplicated(keys).any()
    assert set(map(tuple, ddp[keys].to_numpy())) == set(map(tuple, single[keys].to_numpy()))
    # Same rows, same truth: every rank's shard landed on its own image.
    merged = ddp.merge(single, on=keys, suffixes=("", "_single"), validate="one_to_one")
    assert len(merged) == len(ddp)
    np.testing.assert_array_equal(merged["true_x"], merged["true_x_single"])
    np.testing.assert_array_equal(merged["true_y"], merged["true_y_single"])
    np.testing.assert_array_equal(merged["landmark_index"], merged["landmark_index_single"])


def test_gathered_predictions_are_the_checkpoints(ddp_run):
    """The rows of the last validation are exactly what rank 0's last.pth predicts, evaluated in one process."""
    run_dir = ddp_run[1]
    run = load_run(run_dir)
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last.pth")
    config = checkpoint["config"]
    device = torch.device("cpu")
    splits = load_splits(config)
    pipeline = Pipeline.from_config(config, len(splits[0].names), device)
    data = data_for(config, splits, pipeline.codec, device)
    pipeline.model.load_state_dict(checkpoint["state_dict"])
    scalars = run.scalars[run.scalars["step"] == checkpoint["step"]].set_index("tag")["value"]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun worker ran: the same float arithmetic
    try:
        evaluated = {
            split: evaluate_split(split, pipeline, loader, prepared, device)
            for split, loader, prepared in (
                ("val", data.val_loader, data.val),
                ("train", data.train_subset_loader, data.train_subset),
            )
        }
    finally:
        torch.set_num_threads(threads)

    last = run.predictions[run.predictions["epoch"] == checkpoint["epoch"]]
    for split, result in evaluated.items():
        rows = last[last["split"] == split].sort_values(["image_id", "landmark_index"])
        order = np.argsort(result.image_ids, kind="stable")  # rows are sorted by image id
        expected = result.pred[order].reshape(-1, 2)
        assert rows["image_id"].tolist() == np.repeat(np.asarray(result.image_ids)[order], len(data.names)).tolist()
        # Ranks batch the images differently, so the heatmaps differ in their last bits; the near-border
        # Gaussian fit's iterations carry that to ~0.001 px on a barely trained model's flat peaks, and on a
        # peak flat enough to sit between two pixels, to a fraction of a pixel (0.2 px on one of 266
        # coordinates with numpy 2.4 / scipy 1.17). A wrong image order or checkpoint would move every point
        # by pixels.
        difference = np.abs(rows[["pred_x", "pred_y"]].to_numpy() - expected)
        assert np.quantile(difference, 0.99) < 0.01 and difference.max() < 0.5, np.sort(difference.ravel())[-5:]
        np.testing.assert_allclose(rows["peak"].to_numpy(), result.peak[order].ravel(), atol=1e-5, rtol=0)
        # The gathered metrics and loss are those of the whole split, not of rank 0's shard.
        loss_tag = "val/loss" if split == "val" else "train/eval_loss"
        assert scalars[loss_tag] == pytest.approx(result.loss, rel=1e-5)
        assert scalars[f"{split}/mre_px"] == pytest.approx(result.metrics.overall["mre_px"], rel=1e-5)


def test_a_backbone_frozen_for_an_epoch_trains_under_ddp(tmp_path):
    """Frozen parameters get no gradient, which DDP reports as an error unless told to expect it."""
    result = launch(tmp_path / "runs", "frozen", "model.unfreeze_after=1")
    assert result.returncode == 0, result.stdout[-4000:]
    run_dir = tmp_path / "runs" / "frozen"
    fractions = load_run(run_dir).scalar("params/trainable_frac").tolist()
    assert fractions[0] < 0.5 and fractions[2:] == [1.0, 1.0]
    first, second = (load_checkpoint(run_dir / "checkpoints" / f"epoch_000{n}.pth")["state_dict"] for n in (1, 2))
    assert not torch.equal(first["backbone.stem.0.weight"], second["backbone.stem.0.weight"])


FAILING_SCRIPT = """
import os, sys
from ceph_doctor.config import load_config
from ceph_doctor.train.hooks import Hook
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder

class FailOnRankOne(Hook):
    def on_step_end(self, step, **_):
        if step == 2 and os.environ["RANK"] == "1":
            raise RuntimeError("boom on rank 1")

run_dir = sys.argv[1]
Trainer(load_config(None, sys.argv[2:]), run_dir, hooks=[Recorder(run_dir), FailOnRankOne()]).fit()
"""


def test_a_failing_rank_stops_the_run_instead_of_hanging(tmp_path):
    """The other rank waits in a collective; the failing one must not wait at a barrier for it."""
    script = tmp_path / "fail_on_rank_one.py"
    script.write_text(FAILING_SCRIPT)
    result = torchrun([str(script), str(tmp_path / "run"), *OVERRIDES], timeout_s=90)
    assert result.returncode != 0
    assert "boom on rank 1" in result.stdout
    assert load_run(tmp_path / "run").manifest["status"] == "failed"
