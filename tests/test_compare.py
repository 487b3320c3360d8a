"""`ceph-doctor compare`: two checkpoints on the same images, per-landmark changes, weight diff, safety."""

import copy

import numpy as np
import pytest
import torch
from cli_helpers import assert_one_line_error, ceph_doctor

from ceph_doctor.cli.compare_command import compare_command, data_overrides
from ceph_doctor.compare import compare_checkpoints
from ceph_doctor.signals.paired import landmark_changes
from ceph_doctor.compare.weights import weight_diff
from ceph_doctor.config import load_config
from ceph_doctor.errors import ConfigError, UserInputError
from ceph_doctor.store.checkpoint import load_checkpoint, save_checkpoint
from ceph_doctor.train.loop import Trainer
from ceph_doctor.train.recorder import Recorder

from conftest import TINY


def train(run_dir, *overrides, record=True):
    config = load_config(None, [*TINY, "optimizer.lr=0.003", *overrides])
    Trainer(config, run_dir, hooks=[Recorder(run_dir, tensorboard=False)] if record else []).fit()
    return run_dir / "checkpoints"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return train(tmp_path_factory.mktemp("compare") / "run", "train.max_epochs=3")


@pytest.fixture(scope="module")
def frozen_checkpoints(tmp_path_factory):
    return train(tmp_path_factory.mktemp("frozen") / "run", "train.max_epochs=2", "model.unfreeze_after=never",
                 record=False)


def test_epoch_1_against_epoch_3(checkpoints, tmp_path, capsys):
    out = tmp_path / "cmp"
    comparison = compare_command(checkpoints / "epoch_0001.pth", checkpoints / "epoch_0003.pth", [], out, [])
    names = load_checkpoint(checkpoints / "epoch_0001.pth")["names"]
    assert list(comparison.changes.table.index) == names
    printed = capsys.readouterr().out
    assert all(name in printed for name in names)
    # The rebuilt models reproduce what the run itself measured at those epochs.
    for path, side in (("epoch_0001.pth", comparison.pair.a), ("epoch_0003.pth", comparison.pair.b)):
        stored = load_checkpoint(checkpoints / path)["metrics"]["val/mre_px"]
        assert side.result.metrics.overall["mre_px"] == pytest.approx(stored, rel=1e-4)
    assert comparison.weights.overall() > 0
    assert (comparison.weights.weights["relative_change"] > 0).all()
    for name in ("summary.md", "per_landmark.csv", "weights.csv", "landmark_crops.png", "samples.png",
                 "landmark_errors.png", "weight_change.png"):
        assert (out / name).stat().st_size > 0, name
    summary = (out / "summary.md").read_text()
    assert "## Per landmark" in summary and "![" in summary
    # The checkpoints sit in a run directory: each side gets the engine's findings, or says why not.
    assert set(comparison.findings) == {"A", "B"}


def test_a_checkpoint_against_itself_changes_nothing(checkpoints):
    path = checkpoints / "epoch_0002.pth"
    comparison = compare_checkpoints(path, path)
    table = comparison.changes.table
    assert (table["delta"] == 0).all()
    assert (table["verdict"] == "no evidence of change").all()
    assert comparison.changes.improved == [] and comparison.changes.regressed == []
    assert comparison.weights.overall() == 0.0
    assert (comparison.weights.tensors["relative_change"] == 0.0).all()


def test_frozen_backbone_reads_exactly_zero(frozen_checkpoints):
    comparison = compare_checkpoints(frozen_checkpoints / "epoch_0001.pth", frozen_checkpoints / "epoch_0002.pth")
    tensors = comparison.weights.tensors
    backbone = tensors[tensors["tensor"].str.startswith("backbone.")]
    head = comparison.weights.weights[comparison.weights.weights["tensor"].str.startswith("head.")]
    assert len(backbone) and (backbone["relative_change"] == 0.0).all()
    assert len(head) and (head["relative_change"] > 0).all()
    modules = comparison.weights.by_module(1).set_index("module")["relative_change"]
    assert modules["backbone"] == 0.0 and modules["head"] > 0


def test_plain_state_dicts_compare_weights_only(checkpoints, tmp_path, capsys):
    state_a = load_checkpoint(checkpoints / "epoch_0001.pth")["state_dict"]
    state_b = load_checkpoint(checkpoints / "epoch_0003.pth")["state_dict"]
    torch.save(state_a, tmp_path / "a.pth")
    # Another tool's layout: weights under "model", DDP's "module." prefix, a stored metric.
    torch.save({"model": {f"module.{k}": v for k, v in state_b.items()}, "epoch": 3, "best_acc": 0.75},
               tmp_path / "b.pth")
    comparison = compare_command(tmp_path / "a.pth", tmp_path / "b.pth", [], tmp_path / "out", [])
    assert comparison.pair is None and comparison.changes is None
    assert "config" in comparison.notes[0]
    assert comparison.weights.only_in_a == [] and comparison.weights.only_in_b == []
    assert comparison.weights.overall() > 0
    assert comparison.b.scalars == {"epoch": 3.0, "best_acc": 0.75}
    printed = capsys.readouterr().out
    assert "best_acc" in printed and "backbone" in printed
    assert (tmp_path / "out" / "weights.csv").exists() and (tmp_path / "out" / "summary.md").exists()


def test_a_plain_state_dict_borrows_the_other_checkpoints_config(checkpoints, tmp_path):
    payload = load_checkpoint(checkpoints / "epoch_0003.pth")
    torch.save(payload["state_dict"], tmp_path / "exported.pth")
    comparison = compare_checkpoints(checkpoints / "epoch_0001.pth", tmp_path / "exported.pth")
    assert comparison.pair is not None
    stored = payload["metrics"]["val/mre_px"]
    assert comparison.pair.b.result.metrics.overall["mre_px"] == pytest.approx(stored, rel=1e-4)


def test_mismatched_architectures_compare_the_common_layers(checkpoints, tmp_path):
    state = load_checkpoint(checkpoints / "epoch_0001.pth")["state_dict"]
    other = dict(state)
    dropped = next(name for name in other if name.startswith("head."))
    del other[dropped]
    reshaped = next(name for name in other if name.endswith("weight") and other[name].ndim == 4)
    other[reshaped] = torch.zeros(3, 3)
    other["extra.weight"] = torch.ones(2)
    diff = weight_diff(state, other)
    assert diff.only_in_a == [dropped] and diff.only_in_b == ["extra.weight"]
    assert [name for name, _, _ in diff.shape_differs] == [reshaped]
    assert len(diff.tensors) == len(state) - 2

    torch.save(state, tmp_path / "a.pth")
    torch.save({"unrelated.weight": torch.ones(4)}, tmp_path / "b.pth")
    with pytest.raises(UserInputError, match="nothing to compare"):
        compare_checkpoints(tmp_path / "a.pth", tmp_path / "b.pth")


def test_a_missing_checkpoint_is_one_line(checkpoints, tmp_path):
    assert_one_line_error(ceph_doctor("compare", str(tmp_path / "nope.pth"), str(checkpoints / "epoch_0001.pth")),
                          "nope.pth", "not found")


def test_collapsed_checkpoint_names_the_regressed_landmarks(checkpoints, tmp_path, capsys):
    payload = load_checkpoint(checkpoints / "epoch_0003.pth")
    collapsed = copy.deepcopy(payload)
    # A head that ignores its input: every heatmap is flat, so every image gets the same points.
    last = max(int(name.split(".")[1]) for name in collapsed["state_dict"] if name.startswith("head."))
    collapsed["state_dict"][f"head.{last}.weight"].zero_()
    collapsed["state_dict"][f"head.{last}.bias"].fill_(1.0)
    save_checkpoint(tmp_path / "collapsed.pth", {k: v for k, v in collapsed.items() if k not in ("format", "version")})

    # More images than the tiny run validates on, so a paired test over images has the power to decide.
    comparison = compare_command(checkpoints / "epoch_0003.pth", tmp_path / "collapsed.pth",
                                 ["data.synthetic.val_images=16"], None, [])
    assert len(comparison.pair.image_ids) == 16
    regressed = comparison.changes.regressed
    assert len(regressed) >= len(comparison.changes.table) // 2
    assert comparison.spread.median_b < 0.1 * comparison.spread.median_a
    assert set(comparison.spread.collapsed("b")) == set(comparison.changes.table.index)
    printed = " ".join(capsys.readouterr().out.split())
    regressed_line = printed[printed.index("Regressed:"):]
    assert all(name in regressed_line for name in regressed)
    assert "B's predictions collapse" in printed


def test_paired_test_calls_no_change_on_noise():
    rng = np.random.default_rng(0)
    errors_a = rng.gamma(4.0, 1.0, size=(40, 19))
    errors_b = errors_a + rng.normal(0.0, 1.0, size=errors_a.shape)  # no systematic change anywhere
    changes = landmark_changes(errors_a, errors_b, [f"L{k}" for k in range(19)], "px")
    assert changes.improved == [] and changes.regressed == []
    errors_b[:, 3] += 2.0  # one landmark truly worse
    assert landmark_changes(errors_a, errors_b, [f"L{k}" for k in range(19)], "px").regressed == ["L3"]


def test_data_options(tmp_path):
    config = tmp_path / "other.yaml"
    config.write_text("data:\n  source: folder\n  root: /x\n  input_size: [64, 64]\noptimizer:\n  lr: 0.1\n")
    assert data_overrides([str(config), "limit_val=5", "data.val_fraction=0.5"]) == [
        ("data.source", "folder"), ("data.root", "/x"), ("data.limit_val", 5), ("data.val_fraction", 0.5),
    ]
    with pytest.raises(ConfigError, match="neither a config file"):
        data_overrides([str(tmp_path / "missing.yaml")])


def test_data_options_only_choose_images(checkpoints):
    path = checkpoints / "epoch_0001.pth"
    with pytest.raises(ConfigError, match="only data"):
        compare_checkpoints(path, path, [("optimizer.lr", 0.1)])
    with pytest.raises(ConfigError, match="input size"):
        compare_checkpoints(path, path, [("data.input_size", [32, 32])])


def test_each_side_is_judged_on_its_run_as_it_stood_at_the_checkpoint(checkpoints, monkeypatch):
    """What an analysis at that epoch would have said: the run cut at the checkpoint's epoch is judged (a
    checkpoint at the best epoch is not "overfitting from" its own epoch). The scenarios show it on a real
    overfitted run (test_what_users_read.py); here, that each side sees only its own part of the run."""
    import ceph_doctor.analyze
    from ceph_doctor.compare import engine_findings
    from ceph_doctor.compare.checkpoint_file import read_checkpoint
    from ceph_doctor.engine.diagnosis import Diagnosis, RunReport

    judged = []

    def analyze_run(run, rules):
        judged.append((run.last_epoch, int(run.predictions["epoch"].max())))
        return RunReport(str(run.path), "ceph-doctor", [Diagnosis("x", "info", "", epoch=run.last_epoch)], [])

    monkeypatch.setattr(ceph_doctor.analyze, "analyze_run", analyze_run)
    sides = {"A": read_checkpoint(checkpoints / "epoch_0002.pth"), "B": read_checkpoint(checkpoints / "epoch_0003.pth")}
    findings = engine_findings(sides)
    assert judged == [(2, 2), (3, 3)]
    assert [(f.id, f.epoch) for f in findings["A"]] == [("x", 2)] and [f.epoch for f in findings["B"]] == [3]

    def broken(run, rules):
        raise RuntimeError("engine half-written")

    monkeypatch.setattr(ceph_doctor.analyze, "analyze_run", broken)
    assert engine_findings(sides) == {"A": "diagnosis unavailable (RuntimeError: engine half-written)",
                                      "B": "diagnosis unavailable (RuntimeError: engine half-written)"}
