import numpy as np
import pytest
import torch

from ceph_doctor import load_run
from ceph_doctor.store.checkpoint import load_checkpoint
from ceph_doctor.train.hooks import EVENTS, Hook
from ceph_doctor.train.best import BestSoFar
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder


class EventLog(Hook):
    def __init__(self):
        self.events = []


for _event in EVENTS:
    setattr(EventLog, _event, lambda self, _name=_event, **kwargs: self.events.append(_name))


class StopAt(Hook):
    """Interrupt training at the start of an epoch, as Ctrl-C would."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_start(self, epoch, **_):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_hooks_are_called_in_order(tiny_config, tmp_path):
    # 16 images, batch 4, accumulate 2 → 2 optimizer steps per epoch; validation every 2nd epoch.
    config = tiny_config("train.accumulate=2", "train.val_interval=2", "train.max_epochs=3")
    log = EventLog()
    Trainer(config, tmp_path / "run", hooks=[log]).fit()
    step = ["on_before_optimizer_step", "on_step_end"] * 2
    epoch = lambda validate: ["on_epoch_start", *step, *(["on_validation_end"] if validate else []), "on_epoch_end"]  # noqa: E731
    assert log.events == ["on_train_start", *epoch(False), *epoch(True), *epoch(True), "on_train_end"]


def test_exception_reaches_hooks_and_marks_the_run(tiny_config, tmp_path):
    class Boom(Hook):
        def on_step_end(self, **_):
            raise RuntimeError("boom")

    log = EventLog()
    with pytest.raises(RuntimeError, match="boom"):
        Trainer(tiny_config(), tmp_path / "run", hooks=[Recorder(tmp_path / "run"), log, Boom()]).fit()
    assert log.events[-2:] == ["on_exception", "on_train_end"]
    manifest = load_run(tmp_path / "run").manifest
    assert manifest["status"] == "failed" and "boom" in manifest["error"]


def test_training_reduces_the_loss_and_writes_checkpoints(tiny_config, tmp_path):
    config = tiny_config("train.max_epochs=4", "optimizer.lr=0.003")
    summary = Trainer(config, tmp_path / "run", hooks=[Recorder(tmp_path / "run")]).fit()
    run = load_run(tmp_path / "run")
    loss = run.scalar("train/loss")
    assert loss.iloc[-4:].mean() < loss.iloc[:4].mean() * 0.8
    checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("*.pth"))
    assert checkpoints == ["best.pth", "epoch_0001.pth", "epoch_0002.pth", "epoch_0003.pth", "epoch_0004.pth", "last.pth"]
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pth")
    assert best["epoch"] == summary.best.epoch
    assert best["names"][0] == "Sella" and best["config"]["seed"] == 0
    assert best["metrics"][summary.best.metric] == pytest.approx(summary.best.value)


def test_resume_continues_exactly(tiny_config, tmp_path):
    config = tiny_config("train.max_epochs=3")
    Trainer(config, tmp_path / "whole", hooks=[Recorder(tmp_path / "whole")]).fit()

    with pytest.raises(KeyboardInterrupt):
        Trainer(config, tmp_path / "split", hooks=[Recorder(tmp_path / "split"), StopAt(3)]).fit()
    Trainer(config, tmp_path / "split", hooks=[Recorder(tmp_path / "split")], resume=True).fit()

    whole, split = load_run(tmp_path / "whole"), load_run(tmp_path / "split")
    assert split.manifest["status"] == "completed"
    columns = ["epoch", "split", "image_id", "landmark_index", "pred_x", "pred_y"]
    np.testing.assert_allclose(
        split.predictions[columns[-2:]].to_numpy(), whole.predictions[columns[-2:]].to_numpy(), rtol=1e-4, atol=1e-3
    )
    assert split.predictions[columns[:4]].equals(whole.predictions[columns[:4]])


def test_backbone_frozen_until_unfreeze_after(tiny_config, tmp_path):
    snapshots = {}

    class Snapshot(Hook):
        def on_epoch_end(self, epoch, model, **_):
            snapshots[epoch] = {k: v.clone() for k, v in model.backbone.state_dict().items()}

    config = tiny_config("model.unfreeze_after=1", "train.max_epochs=2")
    trainer = Trainer(config, tmp_path / "run", hooks=[Snapshot()])
    trainer.setup()
    initial = {k: v.clone() for k, v in trainer.model.backbone.state_dict().items()}
    trainer.fit()
    same = lambda a, b: all(torch.equal(a[k], b[k]) for k in a)  # noqa: E731
    assert same(initial, snapshots[1])  # weights and BatchNorm statistics untouched while frozen
    assert not same(snapshots[1], snapshots[2])


def test_pretrained_backbone_is_loaded(tiny_config, tmp_path):
    Trainer(tiny_config("train.max_epochs=1"), tmp_path / "a").fit()
    source = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pth")["state_dict"]
    config = tiny_config(f"model.pretrained={tmp_path / 'a' / 'checkpoints' / 'last.pth'}", "seed=5")
    trainer = Trainer(config, tmp_path / "b")
    trainer.setup()
    for key, value in trainer.model.backbone.state_dict().items():
        assert torch.equal(value, source[f"backbone.{key}"])


def test_ema_and_clipping_run(tiny_config, tmp_path):
    config = tiny_config("train.ema=0.9", "train.grad_clip=0.5", "train.max_epochs=1")
    trainer = Trainer(config, tmp_path / "run")
    summary = trainer.fit()
    assert summary.status == "completed"
    ema_weights = trainer.ema.module.state_dict()
    differs = any(not torch.equal(v, ema_weights[k]) for k, v in trainer.model.state_dict().items() if v.is_floating_point())
    assert differs
    # the checkpoint holds the weights that were evaluated: the EMA ones
    saved = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pth")["state_dict"]
    assert all(torch.equal(saved[k], v) for k, v in ema_weights.items())


def test_early_stopping_stops_after_patience_validations_without_improvement(tiny_config, tmp_path):
    # An lr this small leaves the network as it is; only BatchNorm statistics drift, so the
    # (discrete) PCK stalls after a validation or two.
    seen = []

    class Watch(Hook):
        def on_validation_end(self, result, **_):
            seen.append(result.scalars()["val/pck@0.05"])

    config = tiny_config("optimizer.lr=1e-12", "train.max_epochs=8", "train.early_stopping.patience=2",
                         "train.early_stopping.metric=val/pck@0.05")
    summary = Trainer(config, tmp_path / "run", hooks=[Watch()]).fit()
    assert summary.status == "early_stopped"
    # stopped at the first validation that was the 2nd in a row without a new maximum
    best, stale, expected_stop = -1.0, 0, None
    for epoch, value in enumerate(seen, start=1):
        best, stale = (value, 0) if value > best else (best, stale + 1)
        if stale >= 2:
            expected_stop = epoch
            break
    assert summary.last.epoch == expected_stop == len(seen) < 8


def test_best_so_far_tracks_direction():
    lower = BestSoFar("val/mre_mm", "min")
    assert lower.update(3.0, 1) and not lower.update(3.5, 2) and lower.stale == 1 and lower.update(2.0, 3)
    higher = BestSoFar("val/pck@0.05", "max")
    assert higher.update(10.0, 1) and not higher.update(5.0, 2) and higher.epoch == 1
    assert not higher.update(float("nan"), 3) and higher.stale == 2


def test_hrnet_w32_builds_at_published_size_and_trains_a_step(tiny_config, tmp_path):
    config = tiny_config("model.arch=hrnet", "model.width=32", "train.max_epochs=1",
                         "data.synthetic.train_images=4", "data.synthetic.val_images=2", "data.train_subset=0")
    trainer = Trainer(config, tmp_path / "run")
    trainer.setup()
    assert 28e6 <= sum(p.numel() for p in trainer.model.parameters()) <= 30e6
    before = trainer.model.head.state_dict()
    before = {k: v.clone() for k, v in before.items()}
    assert trainer.fit().status == "completed" and trainer.step == 1
    assert any(not torch.equal(v, trainer.model.head.state_dict()[k]) for k, v in before.items())


def test_early_stopping_says_why_and_resume_does_not_train_on(tiny_config, tmp_path):
    """The stop reaches the manifest with its reason; `last.pth` holds it, so `--resume` has nothing left to run."""
    config = tiny_config("optimizer.lr=1e-12", "train.max_epochs=8", "train.early_stopping.patience=2",
                         "train.early_stopping.metric=val/pck@0.05")
    summary = Trainer(config, tmp_path / "run", hooks=[Recorder(tmp_path / "run")]).fit()
    assert summary.status == "early_stopped" and "train.early_stopping.patience=2" in summary.stop_reason
    assert load_run(tmp_path / "run").manifest["stop_reason"] == summary.stop_reason
    log = EventLog()
    resumed = Trainer(config, tmp_path / "run", hooks=[log], resume=True).fit()
    assert "on_epoch_start" not in log.events and resumed.stop_reason == summary.stop_reason


def test_any_hook_can_stop_the_run_with_a_reason(tiny_config, tmp_path):
    class StopAfterFirstValidation(Hook):
        def on_validation_end(self, epoch, request_stop, **_):
            request_stop(f"seen enough at epoch {epoch}")

    config = tiny_config("train.max_epochs=5")
    log = EventLog()
    summary = Trainer(config, tmp_path / "run", hooks=[log, StopAfterFirstValidation()]).fit()
    assert (summary.status, summary.stop_reason, summary.last.epoch) == ("early_stopped", "seen enough at epoch 1", 1)
    assert log.events.count("on_epoch_start") == 1


def test_the_manifest_repeats_no_config_value(tiny_config, tmp_path):
    from ceph_doctor.config import flatten

    Trainer(tiny_config(), tmp_path / "run", hooks=[Recorder(tmp_path / "run")]).fit()
    manifest = load_run(tmp_path / "run").manifest
    config = flatten(manifest["config"])
    # The manifest's `dataset` section describes what the config's `data` section read.
    described = flatten({("data" if k == "dataset" else k): v for k, v in manifest.items() if k != "config"})
    repeated = sorted(key for key in described if key in config)
    assert not repeated, f"stored twice in the manifest: {repeated}"
    assert manifest["model"]["heatmap_stride"] == 2 and manifest["config"]["codec"]["stride"] is None
