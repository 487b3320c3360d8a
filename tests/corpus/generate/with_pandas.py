"""Plain PyTorch loops that keep their history in pandas and write it with DataFrame.to_csv.

history.csv uses words with spaces and units (`Train Loss`, `Val Loss`, `MRE (mm)`, `SDR@2mm`, `PCK@0.05 (%)`),
one script camelCase (`trainLoss`, `valLoss`, `valMeanRadialError`, `valPCK005`);
some scripts also dump every validation image's predictions (`epoch,image,landmark,pred_x,pred_y,gt_x,gt_y`).
python tests/corpus/generate/with_pandas.py [case ...]
"""

from __future__ import annotations

import json

import pandas as pd

import common
from common import SPACING_MM, PlainLoop, case_dir, recipe, selected


WORDS = {"epoch": "Epoch", "train": "Train Loss", "lr": "LR", "val": "Val Loss", "mre_mm": "MRE (mm)",
         "mre_px": "MRE (px)", "sdr_2mm": "SDR@2mm", "sdr_4mm": "SDR@4mm", "pck": "PCK@0.05 (%)"}
CAMEL = {"epoch": "epoch", "train": "trainLoss", "lr": "learningRate", "val": "valLoss", "mre_mm": "valMeanRadialErrorMm",
         "mre_px": "valMeanRadialError", "sdr_2mm": "valSdr2mm", "sdr_4mm": "valSdr4mm", "pck": "valPCK005"}


class History:
    """One row per epoch (validation columns empty on epochs without validation), predictions per validation."""

    def __init__(self, keep_predictions: bool = False, landmark_names: bool = False, columns: dict = WORDS):
        self.rows, self.preds = [], []
        self.keep, self.names, self.c = keep_predictions, landmark_names, columns

    def on_epoch_end(self, loop, epoch, train_loss, step):
        c = self.c
        self.rows.append({c["epoch"]: epoch, c["train"]: train_loss, c["lr"]: loop.optimizer.param_groups[0]["lr"]})

    def on_validation(self, loop, epoch, step, result):
        c = self.c
        pck = 100 * result["pck"] if c is WORDS else result["pck"]
        self.rows[-1].update({c["val"]: result["loss"], c["mre_mm"]: result["mre_mm"], c["mre_px"]: result["mre_px"],
                              c["sdr_2mm"]: result["sdr_2mm"], c["sdr_4mm"]: result["sdr_4mm"], c["pck"]: pck})
        if self.keep:
            for i, image in enumerate(loop.val.ids):
                for k, name in enumerate(loop.val.names):
                    self.preds.append({"epoch": epoch, "image": f"{image}.png",
                                       "landmark": name if self.names else k,
                                       "pred_x": round(float(result["pred"][i, k, 0]), 2),
                                       "pred_y": round(float(result["pred"][i, k, 1]), 2),
                                       "gt_x": round(float(result["gt"][i, k, 0]), 2),
                                       "gt_y": round(float(result["gt"][i, k, 1]), 2)})

    def save(self, path, plan):
        pd.DataFrame(self.rows).to_csv(path / "history.csv", index=False)
        if self.preds:
            pd.DataFrame(self.preds).to_csv(path / "val_predictions.csv", index=False)
        settings = {"model": plan.task.kind, "lr": plan.lr, "optimizer": plan.optimizer, "epochs": plan.epochs,
                    "batch_size": plan.batch_size, "n_train": plan.n_train, "n_val": plan.n_val,
                    "label_noise_px": plan.label_noise_px, "augment": False, "pixel_spacing_mm": round(SPACING_MM, 4),
                    "image_size": [common.ORIG_W, common.ORIG_H], "input_size": [common.IN_W, common.IN_H]}
        if plan.task.kind == "heatmap":
            settings.update(sigma=plan.task.sigma, heatmap_stride=plan.task.stride)
        (path / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")


def run(name, plan, keep_predictions=False, landmark_names=False, columns=WORDS):
    path = case_dir(name)
    history = History(keep_predictions, landmark_names, columns)
    PlainLoop(plan, [history]).run()
    history.save(path, plan)


def pandas_healthy():
    run("pandas_healthy", recipe("healthy_regression"))


def pandas_overfit():
    run("pandas_overfit", recipe("overfit_heatmap"), keep_predictions=True)


def pandas_collapse():
    run("pandas_collapse", recipe("collapse_regression"), keep_predictions=True, landmark_names=True)


def pandas_swap_bug():
    """x and y exchanged when the decoded array is read back (a real `pred[..., ::-1]` bug)."""
    run("pandas_swap_bug", recipe("healthy_heatmap", epochs=20, task={"eval_bug": "swap"}), keep_predictions=True)


def pandas_drift():
    run("pandas_drift", recipe("drift_heatmap", epochs=40), keep_predictions=True, landmark_names=True)


def pandas_shuffled_val():
    """The validation metric pairs predictions made in shuffled order with the annotations in file order."""
    run("pandas_shuffled_val", recipe("shuffled_metric"))


def pandas_underfit():
    """camelCase columns: trainLoss, valLoss, valMeanRadialError, valPCK005."""
    run("pandas_underfit", recipe("underfit_heatmap"), columns=CAMEL)


CASES = {f.__name__: f for f in (pandas_healthy, pandas_overfit, pandas_collapse, pandas_swap_bug, pandas_drift,
                                  pandas_underfit, pandas_shuffled_val)}

if __name__ == "__main__":
    for name in selected(CASES):
        CASES[name]()
        print("wrote", name, flush=True)
