"""Signals from test-time augmentation: the landmarks its averaged views make worse than the plain prediction.

The same validation images are predicted plain and through `eval.tta`'s views, so each image is its own
pair; a landmark is hurt where the paired test of `signals/paired.py` finds it worse with the views
(signed-rank test over images, false-discovery control across landmarks). A flip whose left/right
twins are wrong, or a view the model never saw in training, hurts the landmarks it touches while the
rest gain: the mean over landmarks can hide it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ceph_doctor.signals.base import MissingInput, Signal, signal_family
from ceph_doctor.signals.paired import landmark_changes
from ceph_doctor.signals.series import val_predictions
from ceph_doctor.store.reader import Run


@signal_family("tta", provides=("tta.hurt", "tta.hurt_count", "tta.helped_count", "tta.worst_rise",
                                "tta.overall_change", "tta.landmark_count"))
def tta_signals(run: Run):
    frame = run.predictions
    if frame.empty or "decode" not in frame or not (frame["decode"] == "tta").any():
        raise MissingInput("validation predictions with test-time augmentation (eval.tta) beside the plain ones")
    augmented = val_predictions(run, "tta")
    epoch = int(augmented["epoch"].max())
    augmented = augmented[augmented["epoch"] == epoch]
    plain = val_predictions(run)  # the model's own answer, as every other diagnosis reads it
    plain = plain[plain["epoch"] == epoch]
    error = "error_mm" if plain["error_mm"].notna().all() else "error_px"
    table = pd.concat([plain, augmented]).pivot_table(index="image_id", columns=["decode", "landmark"],
                                                      values=error, sort=False)
    plain_decode = plain["decode"].iloc[0] if len(plain) else None
    if plain_decode is None or len(table) < 3:
        raise MissingInput("plain and test-time-augmented predictions of at least 3 validation images")
    names = list(dict.fromkeys(augmented["landmark"]))
    plain, views = table[plain_decode][names].to_numpy(), table["tta"][names].to_numpy()
    changes = landmark_changes(plain, views, names, error.removeprefix("error_"))
    rise = changes.table["relative"]
    hurt = changes.regressed
    yield Signal("tta.hurt", hurt, "", epoch, "landmarks the test-time views make worse than the plain prediction")
    yield Signal("tta.hurt_count", len(hurt), "landmarks", epoch)
    yield Signal("tta.helped_count", len(changes.improved), "landmarks", epoch)
    yield Signal("tta.worst_rise", float(rise[hurt].max()) if hurt else float(np.nanmax(rise.to_numpy(), initial=0.0)),
                 "ratio", epoch, "the largest relative rise of a landmark's mean error with the views")
    yield Signal("tta.overall_change", float(changes.overall["relative"]), "ratio", epoch,
                 "relative change of the mean error over all landmarks with the views")
    yield Signal("tta.landmark_count", len(names), "landmarks", epoch)
