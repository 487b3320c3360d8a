import time

import pytest
import yaml

from ceph_doctor.config import defaults, load_config, patched
from ceph_doctor.config.schema import SCHEMA
from ceph_doctor.errors import ConfigError


def test_defaults_cover_exactly_the_schema():
    from ceph_doctor.config import flatten

    assert set(flatten(defaults())) == set(SCHEMA)


def test_canonical_keys_of_the_design_exist():
    canonical = [
        "optimizer.lr", "optimizer.weight_decay", "data.batch_size", "data.augment", "codec.sigma",
        "train.max_epochs", "train.val_interval", "train.early_stopping.patience", "train.warmup_epochs",
        "train.grad_clip", "train.ema", "train.scheduled_sampling", "model.unfreeze_after",
    ]
    assert set(canonical) <= set(SCHEMA)


def test_file_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"optimizer": {"lr": 0.01}, "train": {"max_epochs": 3}}))
    config = load_config(path, ["train.max_epochs=7", "optimizer.weight_decay=1e-2", "model.unfreeze_after=never"])
    assert config["optimizer"]["lr"] == 0.01
    assert config["train"]["max_epochs"] == 7
    assert config["optimizer"]["weight_decay"] == pytest.approx(0.01)
    assert config["model"]["unfreeze_after"] == "never"
    assert config["data"]["batch_size"] == defaults()["data"]["batch_size"]


@pytest.mark.parametrize(
    "override, named",
    [
        ("optimizer.lrr=0.1", "optimizer.lr"),  # a typo gets a suggestion
        ("optimizer.lr=-1", "optimizer.lr"),
        ("train.max_epochs=2.5", "train.max_epochs"),
        ("data.source=imagenet", "synthetic"),
        ("model.width=20", "18"),
        ("data.input_size=[64]", "data.input_size"),
        ("codec.sigma=0", "codec.sigma"),
        ("noequals", "KEY=VALUE"),
    ],
)
def test_bad_values_name_the_key_and_what_is_valid(override, named):
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    message = str(caught.value)
    assert named in message
    assert "\n" not in message


def test_unknown_key_in_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  max_epoch: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*train\.max_epoch"):
        load_config(path)


def test_broken_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train:\n  max_epochs: [3\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml:\d+"):
        load_config(path)


def test_patched_copies_and_validates():
    config = load_config()
    changed = patched(config, {"optimizer.lr": 2e-5})
    assert changed["optimizer"]["lr"] == 2e-5
    assert config["optimizer"]["lr"] != 2e-5
    with pytest.raises(ConfigError):
        patched(config, {"optimizer.lr": "fast"})


@pytest.mark.parametrize("override, fragment", [
    ("seed=4294967296", "seed"),  # numpy's seeder takes 32 bits: this crashed after the data was prepared
    ("data.batch_size=1e30", "data.batch_size"),  # an islice crash, minutes in
    ("data.num_workers=1e30", "data.num_workers"),  # hung, and left orphan worker processes
    ("model.sequence.dim=100", "divisible"),  # with the default 8 heads: crashed when the model was built
])
def test_values_the_code_cannot_run_are_refused_before_any_data_is_prepared(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(None, [override, "model.sequence.heads=8"])


def test_a_yaml_bomb_under_a_valid_key_is_refused_quickly_and_briefly(tmp_path):
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for name, previous in zip("bcdefgh", "abcdefg"):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    lines.append("data:\n  landmarks: [" + ", ".join(["*h"] * 9) + "]")  # 9^9 = 387 M names
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as refused:
        load_config(bomb)
    assert time.perf_counter() - started < 5 and len(str(refused.value)) < 300
    assert "expands to more than" in str(refused.value)
    deep = tmp_path / "deep.yaml"
    deep.write_text("data:\n  landmarks: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(deep)
