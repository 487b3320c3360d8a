"""Plain PyTorch loops tracked with MLflow's file store (tracking URI `file:<case>/mlruns`): the classic
mlruns/<experiment_id>/<run_id>/{metrics,params,tags,meta.yaml} layout, one file per metric with
`timestamp value step` lines. Metric names dotted: `training.loss`, `validation.loss`, `validation.mre_px` ...
Per-landmark predictions, where a script keeps them, go in as run artifacts (artifacts/predictions/*.json).
python tests/corpus/generate/with_mlflow.py [case ...]
"""

from __future__ import annotations

import os
import warnings

import numpy as np

import common
from common import SPACING_MM, PlainLoop, case_dir, recipe, selected

os.environ.setdefault("MLFLOW_TRACKING_URI", "file:/tmp/unused-mlruns")
os.environ["MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"] = "false"
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 keeps the classic mlruns/ layout behind this switch
warnings.filterwarnings("ignore")
import mlflow  # noqa: E402


class Tracker:
    def __init__(self, names: dict, predictions: bool = False, trainable: bool = False):
        self.names, self.predictions, self.trainable = names, predictions, trainable

    def on_start(self, loop):
        if self.trainable:
            mlflow.log_params({"trainable_params": loop.trainable, "total_params": loop.total})
            mlflow.log_metric("frac_trainable", loop.trainable / loop.total, step=0)

    def on_step(self, loop, step, epoch, loss, lr, grads):
        mlflow.log_metric("training.loss", loss, step=step)
        mlflow.log_metric("training.lr", lr, step=step)

    def on_epoch_end(self, loop, epoch, train_loss, step):
        mlflow.log_metric("training.epoch_loss", train_loss, step=epoch)

    def on_validation(self, loop, epoch, step, result):
        mlflow.log_metrics({name: float(result[key]) for name, key in self.names.items()}, step=epoch)
        if self.predictions:
            mlflow.log_dict({"epoch": epoch, "images": loop.val.ids, "landmarks": list(loop.val.names),
                             "pred": np.round(result["pred"], 2).tolist(), "gt": np.round(result["gt"], 2).tolist()},
                            f"predictions/epoch_{epoch:03d}.json")


def run(name, plan, names, experiment="ceph-landmarks", **kw):
    path = case_dir(name)
    mlflow.set_tracking_uri(f"file:{path / 'mlruns'}")
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=name):
        params = {"model": plan.task.kind, "lr": plan.lr, "optimizer": plan.optimizer, "epochs": plan.epochs,
                  "batch_size": plan.batch_size, "n_train": plan.n_train, "val_every": plan.val_interval,
                  "freeze_backbone": plan.freeze_backbone, "image_width": common.ORIG_W,
                  "image_height": common.ORIG_H, "pixel_spacing_mm": round(SPACING_MM, 4)}
        if plan.task.kind == "heatmap":
            params.update(sigma=plan.task.sigma, stride=plan.task.stride)
        mlflow.log_params(params)
        mlflow.set_tag("mlflow.note.content", "synthetic cephalograms, 19 ISBI landmarks")
        PlainLoop(plan, [Tracker(names, **kw)]).run()


BASIC = {"validation.loss": "loss", "validation.mre_px": "mre_px", "validation.pck": "pck"}


def mlflow_healthy():
    run("mlflow_healthy", recipe("healthy_heatmap"), BASIC)


def mlflow_overfit():
    run("mlflow_overfit", recipe("overfit_heatmap"), BASIC)


def mlflow_collapse():
    run("mlflow_collapse", recipe("collapse_heatmap"), BASIC, predictions=True)


def mlflow_frozen():
    run("mlflow_frozen", recipe("frozen_regression"), BASIC, trainable=True)


def mlflow_underfit():
    run("mlflow_underfit", recipe("underfit_heatmap"), BASIC)


def mlflow_exposure():
    run("mlflow_exposure", recipe("exposure"),
        {"validation.loss_teacher_forced": "loss_tf", "validation.loss_autoregressive": "loss_ar",
         "validation.mre_px": "mre_px"})


def mlflow_sparse():
    run("mlflow_sparse", recipe("healthy_regression", epochs=50, val_interval=10), BASIC)


def mlflow_shuffled_val():
    run("mlflow_shuffled_val", recipe("shuffled_metric"), BASIC)


CASES = {f.__name__: f for f in (mlflow_shuffled_val, mlflow_healthy, mlflow_overfit, mlflow_collapse, mlflow_frozen, mlflow_underfit,
                                  mlflow_exposure, mlflow_sparse)}

if __name__ == "__main__":
    for name in selected(CASES):
        CASES[name]()
        print("wrote", name, flush=True)
