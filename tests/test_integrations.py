"""The Recorder outside ceph-doctor's trainer: a plain loop, an MMEngine Runner, a Lightning Trainer.

Each trains a tiny model for real (seconds, CPU) and the run it leaves is read back with load_run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import ceph_doctor

REPO = Path(__file__).resolve().parents[1]
NAMES = ["Sella", "Nasion", "Menton"]
TRAIN_IMAGES, VAL_IMAGES, SUBSET_IMAGES, EPOCHS = 8, 4, 2, 2


def points(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (count, 4) and landmarks (count, K, 2) in px that a linear model can learn."""
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(count, 4)).astype(np.float32)
    landmarks = 50 + 10 * np.tanh(inputs @ rng.normal(size=(4, len(NAMES) * 2))).astype(np.float32)
    return inputs, landmarks.reshape(count, len(NAMES), 2)


def assert_recorded(run_dir: Path, rows_per_validation: int, validations: int = EPOCHS) -> ceph_doctor.store.Run:
    run = ceph_doctor.load_run(run_dir)
    assert run.manifest["status"] == "completed"
    assert run.landmarks == NAMES
    tags = set(run.scalars["tag"])
    assert {"train/loss", "optim/lr", "grad/norm", "grad/norm/backbone", "update_ratio/head"} <= tags
    assert {"val/mre_px", "val/mre_mm", "train/mre_px"} <= tags
    predictions = run.predictions
    assert len(predictions) == validations * rows_per_validation * len(NAMES)
    assert sorted(predictions["epoch"].unique()) == list(range(1, validations + 1))
    assert set(predictions["split"]) == {"val", "train"}
    assert predictions[["pred_x", "true_x", "error_px", "error_mm"]].notna().all().all()
    return run


# ------------------------------------------------------------------ plain loop
def test_plain_loop_example_writes_a_run(tmp_path):
    out = tmp_path / "plain"
    example = REPO / "examples" / "plain_loop.py"
    subprocess.run([sys.executable, str(example), "--out", str(out)], check=True, timeout=120)
    run = ceph_doctor.load_run(out)
    assert run.manifest["status"] == "completed"
    validations = run.config["train"]["max_epochs"]
    images = run.predictions.groupby("split")["image_id"].nunique().to_dict()
    assert images == {"val": 6, "train": 4}
    assert len(run.predictions) == validations * (6 + 4) * len(run.landmarks)
    expected = {"train/loss", "grad/norm/backbone", "update_ratio/head", "val/mre_mm", "train/mre_mm"}
    assert expected <= set(run.scalars["tag"])


def test_importing_ceph_doctor_imports_no_framework():
    code = (
        "import sys, ceph_doctor, ceph_doctor.integrations\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mmengine', 'lightning')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# -------------------------------------------------------------------- MMEngine
@pytest.fixture
def train_mmengine(tmp_path):
    """train(max_epochs) → the runner, trained: a tiny MMPose-shaped model, its val set and a train subset, with
    ceph-doctor's hook recording into work/ceph-doctor."""
    pytest.importorskip("mmengine")
    from mmengine.evaluator import BaseMetric
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from mmengine.structures import BaseDataElement, InstanceData

    from ceph_doctor.integrations.mmengine import CephDoctorHook  # noqa: F401  (registers the hook)

    class PoseLikeSet(Dataset):
        """MMPose-shaped samples: inputs, and a data sample with gt_instances.keypoints (1, K, 2)."""

        metainfo = {"keypoint_id2name": dict(enumerate(NAMES))}

        def __init__(self, count: int, seed: int):
            self.inputs, self.landmarks = points(count, seed)
            self.prefix = f"s{seed}"

        def __len__(self):
            return len(self.inputs)

        def __getitem__(self, index):
            sample = BaseDataElement(metainfo={"img_id": f"{self.prefix}-{index}", "spacing_mm": 0.1})
            sample.gt_instances = InstanceData(
                keypoints=self.landmarks[index][None], keypoints_visible=np.ones((1, len(NAMES)), np.float32)
            )
            return {"inputs": torch.from_numpy(self.inputs[index]), "data_samples": sample}

    class TinyPoseModel(BaseModel):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Linear(4, 16)
            self.head = nn.Linear(16, len(NAMES) * 2)

        def forward(self, inputs, data_samples=None, mode="tensor"):
            pred = 50 + self.head(torch.relu(self.backbone(torch.stack(inputs)))).view(-1, len(NAMES), 2)
            if mode == "loss":
                true = torch.stack([torch.as_tensor(s.gt_instances.keypoints[0]) for s in data_samples])
                return {"loss_kpt": nn.functional.mse_loss(pred, true), "acc_pose": torch.tensor(0.5)}
            if mode == "predict":
                for sample, keypoints in zip(data_samples, pred.detach().numpy()):
                    sample.pred_instances = InstanceData(
                        keypoints=keypoints[None], keypoint_scores=np.ones((1, len(NAMES)), np.float32)
                    )
                return data_samples
            return pred

    class MeanError(BaseMetric):
        def process(self, data_batch, data_samples):
            for sample in data_samples:
                error = sample["pred_instances"]["keypoints"] - sample["gt_instances"]["keypoints"]
                self.results.append(float(np.abs(error).mean()))

        def compute_metrics(self, results):
            return {"mean_error": float(np.mean(results))}

    def loader(dataset, shuffle=False):
        return {"dataset": dataset, "sampler": {"type": "DefaultSampler", "shuffle": shuffle}, "batch_size": 2}

    subset = PoseLikeSet(TRAIN_IMAGES, seed=0)
    subset.inputs, subset.landmarks = subset.inputs[:SUBSET_IMAGES], subset.landmarks[:SUBSET_IMAGES]

    def train(max_epochs: int):
        runner = Runner(
            model=TinyPoseModel(),
            work_dir=str(tmp_path / "work"),
            train_dataloader=loader(PoseLikeSet(TRAIN_IMAGES, seed=0), shuffle=True),
            val_dataloader=loader(PoseLikeSet(VAL_IMAGES, seed=1)),
            val_evaluator={"type": MeanError},
            optim_wrapper={"optimizer": {"type": "SGD", "lr": 0.01}, "clip_grad": {"max_norm": 100.0}},
            train_cfg={"by_epoch": True, "max_epochs": max_epochs, "val_interval": 1},
            val_cfg={},
            default_hooks={"checkpoint": None},
            custom_hooks=[{"type": "CephDoctorHook", "every_n_steps": 1, "train_subset": loader(subset)}],
            log_level="WARNING",
        )
        runner.train()
        return runner

    return train


def test_mmengine_hook_records_a_runner(tmp_path, train_mmengine):
    train_mmengine(EPOCHS)

    run = assert_recorded(tmp_path / "work" / "ceph-doctor", VAL_IMAGES + SUBSET_IMAGES)
    tags = set(run.scalars["tag"])
    assert {"val/mean_error", "train/acc_pose", "grad/norm_before_clip"} <= tags
    assert len(run.scalar("train/loss")) == EPOCHS * TRAIN_IMAGES // 2
    assert run.config["optimizer"]["lr"] == 0.01 and run.config["train"]["max_epochs"] == EPOCHS
    assert run.manifest["framework"]["name"] == "mmengine"


def test_mmpose_sample_parser_skips_what_is_missing():
    pytest.importorskip("mmengine")
    from mmengine.structures import BaseDataElement, InstanceData

    from ceph_doctor.integrations.mmengine import mmpose_sample

    assert mmpose_sample(BaseDataElement()) is None
    assert mmpose_sample({"pred_instances": {"keypoints": np.zeros((1, 3, 2))}}) is None
    empty = BaseDataElement(pred_instances=InstanceData(keypoints=np.zeros((0, 3, 2))))
    empty.gt_instances = InstanceData(keypoints=np.zeros((1, 3, 2)))
    assert mmpose_sample(empty) is None
    sample = BaseDataElement(metainfo={"img_path": "/data/img_007.png"})
    sample.pred_instances = InstanceData(keypoints=np.ones((1, 3, 2)))
    sample.gt_instances = InstanceData(keypoints=np.ones((1, 3, 2)), keypoints_visible=np.array([[1, 0, 1]]))
    parsed = mmpose_sample(sample)
    assert parsed["image_id"] == "img_007.png" and parsed["peak"] is None
    assert np.isnan(parsed["true"][1]).all() and not np.isnan(parsed["true"][0]).any()


# ------------------------------------------------------------------- Lightning
class LandmarkSet(Dataset):
    def __init__(self, count: int, seed: int):
        self.inputs, self.landmarks = points(count, seed)
        self.ids = [f"s{seed}-{index}" for index in range(count)]

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, index):
        return self.inputs[index], self.landmarks[index], self.ids[index]


@pytest.fixture
def fit_lightning(tmp_path):
    """fit(max_epochs, ckpt_path=None) → trainer: one tiny module, its val set and a train subset as val loader 1."""
    lightning = pytest.importorskip("lightning")
    from ceph_doctor.integrations.lightning import CephDoctorCallback

    class TinyLandmarkModule(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Linear(4, 16)
            self.head = nn.Linear(16, len(NAMES) * 2)

        def forward(self, inputs):
            return 50 + self.head(torch.relu(self.backbone(inputs))).view(-1, len(NAMES), 2)

        def training_step(self, batch, batch_idx):
            inputs, true, _ = batch
            return nn.functional.mse_loss(self(inputs), true)

        def validation_step(self, batch, batch_idx, dataloader_idx=0):
            inputs, true, ids = batch
            pred = self(inputs)
            if dataloader_idx == 0:
                loss = nn.functional.mse_loss(pred, true)
                self.log("val_loss", loss, add_dataloader_idx=False, batch_size=len(pred))
            return {"pred": pred, "true": true, "image_ids": ids, "spacing_mm": 0.1}

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    train = LandmarkSet(TRAIN_IMAGES, seed=0)
    val_loaders = [
        DataLoader(LandmarkSet(VAL_IMAGES, seed=1), batch_size=2),
        DataLoader(torch.utils.data.Subset(train, range(SUBSET_IMAGES)), batch_size=2),
    ]

    def fit(max_epochs: int, ckpt_path: str | None = None):
        callback = CephDoctorCallback(
            run_dir=str(tmp_path / "run"), every_n_steps=1, landmarks=NAMES, train_subset_dataloader_idx=1
        )
        trainer = lightning.Trainer(
            max_epochs=max_epochs, accelerator="cpu", logger=False, enable_checkpointing=ckpt_path is None,
            enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
            default_root_dir=str(tmp_path),
        )
        train_loader = DataLoader(train, batch_size=2, shuffle=True)
        trainer.fit(TinyLandmarkModule(), train_loader, val_loaders, ckpt_path=ckpt_path)
        return trainer

    return fit


def test_lightning_callback_records_a_trainer(tmp_path, fit_lightning):
    fit_lightning(EPOCHS)

    run = assert_recorded(tmp_path / "run", VAL_IMAGES + SUBSET_IMAGES)
    assert "val/loss" in set(run.scalars["tag"])
    assert run.scalar("train/loss").index.tolist() == list(range(1, EPOCHS * TRAIN_IMAGES // 2 + 1))
    assert run.manifest["framework"]["name"] == "lightning"


def test_lightning_resume_adds_no_duplicate_and_misses_nothing(tmp_path, fit_lightning):
    first = fit_lightning(EPOCHS)
    fit_lightning(EPOCHS + 1, ckpt_path=first.checkpoint_callback.best_model_path)

    run = assert_recorded(tmp_path / "run", VAL_IMAGES + SUBSET_IMAGES, validations=EPOCHS + 1)
    assert len(run.manifest["resumed"]) == 1
    steps = run.scalars.loc[run.scalars["tag"] == "train/loss", "step"].tolist()
    assert steps == list(range(1, (EPOCHS + 1) * TRAIN_IMAGES // 2 + 1))
    assert not run.predictions.duplicated(["epoch", "split", "image_id", "landmark"]).any()


def doctor_asking_to_stop_at_the_second_validation(monkeypatch) -> list:
    """The live doctor made to ask for a stop at its second judging (what it finds is judged on the scenario runs;
    the adapters' tests check only how each framework is stopped). Returns the list of its judgings."""
    from ceph_doctor.live_doctor import RunDoctor

    judged = []

    def asks(self, epoch=None):
        judged.append(True)
        if len(judged) == 2:
            self.stopped_by = "stopped by the doctor at epoch 2: a-finding (error): it asked to stop"
            return self.stopped_by
        return None

    monkeypatch.setattr(RunDoctor, "after_validation", asks)
    return judged


def assert_stopped_by_the_doctor(run_dir: Path) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "early_stopped" and manifest["stop_reason"].startswith("stopped by the doctor")


def test_the_live_doctor_ends_a_lightning_fit_its_own_way(tmp_path, fit_lightning, monkeypatch):
    """A finding that asks to stop ends the fit through `trainer.should_stop` after that validation."""
    judged = doctor_asking_to_stop_at_the_second_validation(monkeypatch)
    trainer = fit_lightning(EPOCHS + 2)
    assert trainer.current_epoch == 2 and len(judged) == 2
    assert_stopped_by_the_doctor(tmp_path / "run")


def test_the_live_doctor_ends_an_mmengine_run_its_own_way(tmp_path, train_mmengine, monkeypatch):
    """… and an MMEngine runner through its loop's `stop_training`, as MMEngine's EarlyStoppingHook does."""
    judged = doctor_asking_to_stop_at_the_second_validation(monkeypatch)
    runner = train_mmengine(EPOCHS + 2)
    assert runner.epoch == 2 and len(judged) == 2
    assert_stopped_by_the_doctor(tmp_path / "work" / "ceph-doctor")
