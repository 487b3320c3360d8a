"""Turn `data.*` config keys into the training and validation landmark sets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ceph_doctor.data.records import LandmarkSet
from ceph_doctor.errors import ConfigError, DataError

DEFAULT_SPLITS = {
    "isbi2015": ("TrainingData", "Test1Data"),
    "aariz": ("train", "valid"),
}


def read_splits(config: dict) -> tuple[LandmarkSet, LandmarkSet]:
    """The configured (training, validation) splits as annotated (`pipeline.load_splits`: as trained on)."""
    data = config["data"]
    source = data["source"]
    if source == "synthetic":
        train, val = _synthetic(config)
    else:
        root = _root(data)
        if source in HELD_OUT:
            train, val = _held_out(HELD_OUT[source](root, data), data["val_fraction"], data_seed(config), root)
        else:
            train_split, val_split = DEFAULT_SPLITS[source]
            train = _loader(source)(root, data["train_split"] or train_split)
            val = _loader(source)(root, data["val_split"] or val_split)
    train = _limited(train, data["limit_train"])
    val = _limited(val, data["limit_val"])
    if data["landmarks"]:
        train, val = _only_landmarks(train, data["landmarks"]), _only_landmarks(val, data["landmarks"])
    if tuple(train.names) != tuple(val.names):
        raise DataError(data.get("root") or source, "training and validation splits name different landmarks")
    return train, val


def data_seed(config: dict) -> int:
    """The seed of the data itself: `data.seed`, else the run's `seed`. Apart, so that runs of one
    config under several training seeds (an ablation's seed-noise repeats) see the same images."""
    seed = config["data"].get("seed")
    return config["seed"] if seed is None else seed


def _synthetic(config: dict) -> tuple[LandmarkSet, LandmarkSet]:
    from ceph_doctor.data.synthetic import synthetic_split

    settings = config["data"]["synthetic"]
    width, height = settings["render_size"]
    seed = data_seed(config)
    return (
        synthetic_split(seed, "train", settings["train_images"], width, height, settings["annotators"],
                        settings["annotator_spread_mm"]),
        synthetic_split(seed, "val", settings["val_images"], width, height, settings["annotators"],
                        settings["annotator_spread_mm"]),
    )


def _root(data: dict) -> Path:
    if data["root"] is None:
        raise ConfigError(f"data.root: data.source={data['source']} needs the dataset folder, e.g. --set data.root=PATH")
    root = Path(data["root"]).expanduser()
    if not root.is_dir():
        raise DataError(root, "dataset folder not found")
    return root


def _loader(source: str):
    if source == "isbi2015":
        from ceph_doctor.data.isbi2015 import load_isbi2015

        return load_isbi2015
    from ceph_doctor.data.aariz import load_aariz

    return load_aariz


def _from_folder(root: Path, data: dict) -> LandmarkSet:
    from ceph_doctor.data.folder import load_folder

    return load_folder(root, Path(data["csv"]) if data["csv"] else None)


def _from_cldetection2023(root: Path, data: dict) -> LandmarkSet:
    from ceph_doctor.data.cldetection2023 import load_cldetection2023

    return load_cldetection2023(root)


# Sources without a split of their own: a seeded random `data.val_fraction` of the images is held out.
HELD_OUT = {"folder": _from_folder, "cldetection2023": _from_cldetection2023}


def _held_out(everything: LandmarkSet, val_fraction: float, seed: int, root: Path) -> tuple[LandmarkSet, LandmarkSet]:
    if len(everything) < 2:
        raise DataError(root, f"need at least 2 annotated images to split, found {len(everything)}")
    order = np.random.default_rng(seed).permutation(len(everything))
    val_count = min(len(everything) - 1, max(1, round(len(everything) * val_fraction)))
    pick = lambda indices: [everything.records[i] for i in sorted(indices)]  # noqa: E731
    return (
        LandmarkSet(everything.names, pick(order[val_count:]), everything.flip_pairs, everything.source),
        LandmarkSet(everything.names, pick(order[:val_count]), everything.flip_pairs, everything.source),
    )


def _limited(landmark_set: LandmarkSet, limit: int | None) -> LandmarkSet:
    if limit is None or limit >= len(landmark_set):
        return landmark_set
    return LandmarkSet(landmark_set.names, landmark_set.records[:limit], landmark_set.flip_pairs, landmark_set.source)


def _only_landmarks(landmark_set: LandmarkSet, names: list[str]) -> LandmarkSet:
    """Keep the named landmarks, in the order given (fine-tuning on new points, say)."""
    unknown = [name for name in names if name not in landmark_set.names]
    if unknown:
        raise ConfigError(f"data.landmarks: {', '.join(unknown)} not in this dataset; it has {', '.join(landmark_set.names)}")
    columns = [landmark_set.names.index(name) for name in names]
    records = [replace(record, landmarks=record.landmarks[columns],
                       annotations=record.annotations[:, columns] if record.annotations is not None else None)
               for record in landmark_set.records]
    # Flip pairs refer to indices; keep those whose both ends survive, renumbered.
    position = {old: new for new, old in enumerate(columns)}
    pairs = tuple((position[a], position[b]) for a, b in landmark_set.flip_pairs if a in position and b in position)
    return LandmarkSet(tuple(names), records, pairs, landmark_set.source)


