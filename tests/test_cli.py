"""The command line as a user meets it: exit codes, one-line errors, no tracebacks."""

import pytest
from cli_helpers import assert_one_line_error, ceph_doctor
from fixtures_layouts import write_isbi2015

from ceph_doctor import load_run


def test_unknown_config_key(tmp_path):
    assert_one_line_error(ceph_doctor("train", "--set", "optimizer.lrr=1e-3", "--out", str(tmp_path)), "optimizer.lrr", "optimizer.lr")


def test_negative_lr(tmp_path):
    assert_one_line_error(ceph_doctor("train", "--set", "optimizer.lr=-0.1", "--out", str(tmp_path)), "optimizer.lr", "out of range")


def test_missing_dataset_folder(tmp_path):
    missing = tmp_path / "no-such-folder"
    result = ceph_doctor("train", "--set", "data.source=isbi2015", "--set", f"data.root={missing}", "--out", str(tmp_path))
    assert_one_line_error(result, str(missing), "not found")


def test_annotation_line_with_three_numbers(tmp_path):
    root = tmp_path / "isbi"
    write_isbi2015(root)
    annotation = root / "AnnotationsByMD" / "400_senior" / "002.txt"
    lines = annotation.read_text().splitlines()
    lines[4] = "10,20,30"
    annotation.write_text("\n".join(lines) + "\n")
    result = ceph_doctor("train", "--set", "data.source=isbi2015", "--set", f"data.root={root}", "--out", str(tmp_path))
    assert_one_line_error(result, "002.txt:5")


def test_unreadable_image(tmp_path):
    root = tmp_path / "isbi"
    write_isbi2015(root)
    (root / "RawImage" / "TrainingData" / "003.bmp").write_bytes(b"not an image at all")
    result = ceph_doctor(
        "train", "--set", "data.source=isbi2015", "--set", f"data.root={root}",
        "--set", "data.input_size=[64,64]", "--out", str(tmp_path),
    )
    assert_one_line_error(result, "003.bmp")
    assert not any((tmp_path).glob("*/manifest.json"))  # nothing half-written


def test_existing_run_is_not_overwritten(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "manifest.json").write_text("{}")
    assert_one_line_error(ceph_doctor("train", "--out", str(tmp_path), "--name", "taken"), "--resume")


@pytest.mark.parametrize("name", ["nested/run", "..", "a\\b"])
def test_a_run_name_is_one_folder(tmp_path, name):
    assert_one_line_error(ceph_doctor("train", "--out", str(tmp_path / "runs"), "--name", name), "--name", "--out")
    assert not (tmp_path / "runs").exists()


def test_version():
    from importlib.metadata import version

    result = ceph_doctor("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"ceph-doctor {version('ceph-doctor')}"


def test_usage_error_exit_code():
    result = ceph_doctor("train", "--no-such-option")
    assert_one_line_error(result, "--no-such-option", "train --help")


@pytest.mark.parametrize("command", [[], ["train"], ["samples"]])
def test_help_ends_with_an_example(command):
    result = ceph_doctor(*command, "--help")
    assert result.returncode == 0 and "Example: ceph-doctor" in result.stdout


def test_train_on_a_real_layout_end_to_end(tmp_path):
    root = tmp_path / "isbi"
    write_isbi2015(root, {"train": ("001", "002", "003", "004", "005"), "test1": ("151", "152")})
    result = ceph_doctor(
        "train", "--set", "data.source=isbi2015", "--set", f"data.root={root}", "--set", "data.input_size=[64,64]",
        "--set", "data.batch_size=2", "--set", "model.channels=8", "--set", "train.max_epochs=1",
        "--out", str(tmp_path), "--name", "isbi",
    )
    assert result.returncode == 0, result.stderr
    assert f"next: ceph-doctor analyze {tmp_path / 'isbi'}" in result.stderr  # what to do with the run
    run = load_run(tmp_path / "isbi")
    assert run.manifest["pixel_spacing_mm"] == pytest.approx(0.1)
    assert len(run.predictions) == 1 * (2 + 5) * 19
    assert run.predictions["error_mm"].notna().all()


def test_samples_writes_pngs(tmp_path):
    result = ceph_doctor("samples", "--out", str(tmp_path / "s"), "--count", "2",
                         "--set", "data.synthetic.render_size=[96,112]")
    assert result.returncode == 0, result.stderr
    import cv2

    images = sorted((tmp_path / "s").glob("*.png"))
    assert len(images) == 2
    assert cv2.imread(str(images[0])).shape == (112, 96, 3)
