"""A second, per-image task on the shared backbone: its labels from each source, its head, loss and records."""

import json

import fixtures_layouts as fx
import numpy as np
import pytest
import torch

from ceph_doctor.data.aariz import load_aariz
from ceph_doctor.data.folder import load_folder
from ceph_doctor.data.synthetic import synthetic_split
from ceph_doctor.data.synthetic_variation import MEAN_STRUCTURES, sample_skull
from ceph_doctor.errors import ConfigError, DataError
from ceph_doctor.train.gradients import task_gradients


def test_the_synthetic_cvm_stage_is_drawn_in_the_vertebrae():
    def c3_height(maturity: float) -> float:
        points = sample_skull(np.random.default_rng(0), maturity).structures["c3"].points
        return float(np.ptp(points[:, 1]))

    mean_height = float(np.ptp(MEAN_STRUCTURES["c3"].points[:, 1]))
    assert c3_height(0.0) < 0.75 * mean_height < 1.25 * mean_height < c3_height(1.0)  # flat when young, tall when mature
    stages = [record.labels["cvm_stage"] for record in synthetic_split(0, "train", 48, 64, 80).records]
    assert set(stages) == {1.0, 2.0, 3.0, 4.0, 5.0, 6.0}
    again = [record.labels["cvm_stage"] for record in synthetic_split(0, "train", 48, 64, 80).records]
    assert stages == again


def test_a_folder_csv_column_beyond_the_landmarks_is_a_per_image_label(tmp_path):
    fx.write_folder(tmp_path, spacing=None)
    table = (tmp_path / "landmarks.csv").read_text().splitlines()
    stage = {"b.png": "3", "a.jpg": "5", "sub/c.bmp": ""}
    rows = [table[0] + ",cvm_stage"] + [f"{line},{stage[line.split(',')[0]]}" for line in table[1:]]
    (tmp_path / "landmarks.csv").write_text("\n".join(rows) + "\n")
    labels = {record.image_id: record.labels for record in load_folder(tmp_path).records}
    assert labels == {"a": {"cvm_stage": 5.0}, "b": {"cvm_stage": 3.0}, "c": {}}

    rows[2] = rows[2].rsplit(",", 1)[0] + ",4"  # b's second row disagrees with its first
    (tmp_path / "landmarks.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"landmarks.csv:3: image 'b.png' has a different 'cvm_stage'"):
        load_folder(tmp_path)


def test_aariz_cvm_stage_files_become_the_label_where_present(tmp_path):
    fx.write_aariz(tmp_path, cvm_stages={"cks2ip8fq2a0t0": 4, "ckt9bmp": 2})
    labels = {record.image_id: record.labels for record in load_aariz(tmp_path, "train").records}
    assert labels == {"cks2ip8fq2a0t0": {"cvm_stage": 4.0}, "cks2ip8fq2a0j0": {}, "ckt9bmp": {"cvm_stage": 2.0}}
    broken = tmp_path / "train" / "Annotations" / "CVM Stages" / "ckt9bmp.json"
    broken.write_text(json.dumps({"cvm_stage": {"value": 9}}))
    with pytest.raises(DataError, match="ckt9bmp.json.*1..6"):
        load_aariz(tmp_path, "train")


def test_the_task_gradients_measure_what_each_loss_sends_into_the_shared_weights():
    shared = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    pulling = (shared * torch.tensor([3.0, 0.0])).sum()  # gradient (3, 0)
    against = (shared * torch.tensor([-1.0, 0.0])).sum()  # gradient (-1, 0): the opposite direction
    values = task_gradients({"landmarks": pulling, "aux": against}, [shared])
    assert values == pytest.approx({"grad/shared/landmarks": 3.0, "grad/shared/aux": 1.0, "grad/task_cosine": -1.0})
    assert shared.grad is None  # measured beside the step, not added to it


def test_training_with_a_second_task_records_its_loss_gradient_and_accuracy(tiny_config, tmp_path):
    from ceph_doctor.store import load_run
    from ceph_doctor.store.checkpoint import load_checkpoint
    from ceph_doctor.train.loop import Trainer
    from ceph_doctor.train.recorder import Recorder

    config = tiny_config("model.aux.label=cvm_stage", "train.max_epochs=1")
    Trainer(config, tmp_path / "run", hooks=[Recorder(tmp_path / "run")]).fit()
    tags = set(load_run(tmp_path / "run").scalars["tag"])
    assert {"train/loss/heatmap_mse", "train/loss/aux", "grad/shared/landmarks", "grad/shared/aux", "grad/task_cosine",
            "val/aux/accuracy", "val/loss/aux", "train/eval_loss/aux", "train/aux/accuracy"} <= tags
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pth")["state_dict"]
    assert any(key.startswith("aux_head.") for key in state) and any(key.startswith("backbone.") for key in state)


def test_a_second_task_on_a_label_the_data_lacks_or_out_of_its_classes_is_refused(tiny_config, tmp_path):
    from ceph_doctor.train.loop import Trainer

    with pytest.raises(ConfigError, match=r"model.aux.label: the training data has no per-image label 'age' \(its labels: cvm_stage\)"):
        Trainer(tiny_config("model.aux.label=age"), tmp_path / "a").setup()
    with pytest.raises(ConfigError, match="holds 5, not a class 1..4"):
        Trainer(tiny_config("model.aux.label=cvm_stage", "model.aux.classes=4"), tmp_path / "b").setup()
