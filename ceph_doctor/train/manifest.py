"""What a run's manifest says beyond its config: the tool, the data as read, the model as built.

Nothing the config already holds is repeated here (its `data.source`, `model.arch`, `codec.sigma`
are read from the config); only what a run resolved or measured: image counts, the original frame,
the pixel spacing, parameter counts, the device and precision, the monitored metric.
"""

from __future__ import annotations

import numpy as np
import torch

from ceph_doctor.codec import HeatmapCodec
from ceph_doctor.models import count_parameters
from ceph_doctor.pipeline import Pipeline
from ceph_doctor.train.best import BestSoFar
from ceph_doctor.train.setup import DataParts


def describe_run(pipeline: Pipeline, data: DataParts, *, device: torch.device, precision: str, world_size: int,
                 steps_per_epoch: int, best: BestSoFar, annotators: np.ndarray | None = None) -> dict:
    """The manifest's record of what the run resolved and measured; `annotators`: the validation images' mean
    distance between two annotators per landmark (`landmark_errors.annotator_disagreement`), where they have two."""
    from ceph_doctor import __version__

    spacing = data.val.spacing_mm
    model = {
        "parameters": count_parameters(pipeline.model),
        "backbone_parameters": count_parameters(pipeline.model.backbone),
    }
    if isinstance(pipeline.codec, HeatmapCodec):  # resolved: codec.stride may be left to the architecture
        model["heatmap_stride"] = pipeline.codec.stride
    return {
        "tool": {"name": "ceph-doctor", "version": __version__, "torch": torch.__version__},
        "dataset": {
            "train_images": len(data.train),
            "val_images": len(data.val),
            "train_subset_ids": list(data.train_subset.image_ids),
            "original_size": np.median(data.val.original_sizes, axis=0).tolist(),
            **({"annotator_disagreement": {name: None if np.isnan(value) else round(float(value), 4)
                                           for name, value in zip(data.val.names, annotators)},
                "annotator_disagreement_unit": "mm" if not np.isnan(spacing).all() else "px"}
               if annotators is not None else {}),
        },
        "pixel_spacing_mm": None if np.isnan(spacing).all() else float(np.nanmedian(spacing)),
        "model": model,
        "device": str(device),
        "precision": precision,
        "world_size": world_size,
        "steps_per_epoch": steps_per_epoch,
        "monitor": {"metric": best.metric, "mode": best.mode},
    }
