"""Signals from how the model was updated and how often it was checked."""

from __future__ import annotations

import numpy as np

from ceph_doctor.signals.base import MissingInput, Signal, signal_family
from ceph_doctor.signals.series import by_step, metric_curve
from ceph_doctor.store.reader import Run


@signal_family("grad", provides=("grad.nonfinite_steps", "grad.first_nonfinite_epoch", "grad.max_over_median",
                                  "grad.explosion_epoch"))
def gradient_signals(run: Run):
    norms = by_step(run, "grad/norm")
    if norms.empty:
        raise MissingInput("the total gradient norm (grad/norm) every few steps")
    finite = norms.finite()
    yield Signal("grad.nonfinite_steps", len(norms) - len(finite), "steps")
    rows = run.series("grad/norm")
    bad = rows.epoch[~np.isfinite(rows.value)]
    if len(bad):
        yield Signal("grad.first_nonfinite_epoch", int(bad.min()), "epoch", int(bad.min()))
    if len(finite) >= 2:
        median = float(np.median(finite.values))
        worst = int(np.argmax(finite.values))
        ratio = float(finite.values[worst] / median) if median > 0 else np.inf
        epoch = rows.epoch[rows.step == finite.at[worst]][0]
        yield Signal("grad.max_over_median", ratio, "×", int(epoch), "largest gradient norm over the median")
        yield Signal("grad.explosion_epoch", int(epoch), "epoch", int(epoch))


# What people call the two halves of a landmark model, when they log per-module gradient norms.
BACKBONE_NAMES = ("backbone", "encoder", "features", "body", "trunk", "stem")
HEAD_NAMES = ("head", "decoder", "classifier", "regressor", "heads", "keypoint_head")


@signal_family(
    "params",
    provides=(
        "params.trainable_frac", "params.backbone_update_ratio", "params.head_update_ratio",
        "params.backbone_update_share", "params.update_ratio", "params.update_ratio_peak",
        "params.backbone_grad_share",
    ),
)
def parameter_signals(run: Run):
    """Which part of the model is being trained: the trainable fraction, each module's update ratio
    ‖Δw‖/‖w‖ (ceph-doctor's recorder), and each module's gradient norm (any logger)."""
    last_epoch = run.last_epoch
    fraction = by_step(run, "params/trainable_frac")
    module_steps = {module: by_step(run, f"update_ratio/{module}").finite() for module in ("backbone", "head")}
    ratios = {module: float(np.median(curve.values)) if len(curve) else None for module, curve in module_steps.items()}
    grads = {module: next((value for name in names if (value := run_median(run, f"grad/norm/{name}")) is not None),
                          None) for module, names in (("backbone", BACKBONE_NAMES), ("head", HEAD_NAMES))}
    if fraction.empty and not any(v is not None for v in (*ratios.values(), *grads.values())):
        raise MissingInput("the fraction of trainable parameters (params/trainable_frac), or gradient norms or "
                           "update ratios per module (grad/norm/backbone and grad/norm/head)")
    if not fraction.empty:
        # A fraction cannot exceed 1: a larger value was logged as a percentage (`trainable%: 7.48`).
        share = fraction.last / 100 if fraction.last > 1 else fraction.last
        yield Signal("params.trainable_frac", share, "share", last_epoch)
    for module, ratio in ratios.items():
        if ratio is not None:
            yield Signal(f"params.{module}_update_ratio", ratio, "share", last_epoch,
                         f"median ‖Δw‖/‖w‖ of the {module} per logged step")
    # How far each step moves the network: the whole model's ‖Δw‖/‖w‖ where it is logged. A small module
    # moves by a large share of itself under any Adam step (HRNet's head starts at std 0.001 and stays small:
    # 13% in its first steps at MMPose's lr, while the backbone moves 0.4%); the larger module median
    # stands in where only modules are logged.
    whole = by_step(run, "update_ratio/all").finite()
    curves = [whole] if len(whole) else [curve for curve in module_steps.values() if len(curve)]
    if curves:
        yield Signal("params.update_ratio", max(float(np.median(curve.values)) for curve in curves), "share",
                     last_epoch, "median ‖Δw‖/‖w‖ per step of the whole model, or of its larger module "
                     "(about 1e-3 is healthy)")
        # The largest single step: a network killed by its first huge steps updates nothing
        # afterwards, so its median looks calm while this does not.
        yield Signal("params.update_ratio_peak", max(float(curve.values.max()) for curve in curves), "share",
                     last_epoch, "the largest logged ‖Δw‖/‖w‖ in one step")
    # Relative to the head, so a schedule's tiny final lr does not look like a frozen backbone.
    if ratios["backbone"] is not None and ratios["head"]:
        yield Signal("params.backbone_update_share", ratios["backbone"] / ratios["head"], "×", last_epoch,
                     "backbone update ratio over the head's")
    if grads["backbone"] is not None and grads["head"]:
        yield Signal("params.backbone_grad_share", grads["backbone"] / grads["head"], "×", last_epoch,
                     "the backbone's median gradient norm over the head's (0: it receives no gradient)")


def run_median(run: Run, tag: str) -> float | None:
    values = by_step(run, tag).finite().values
    return float(np.median(values)) if len(values) else None


@signal_family(
    "schedule",
    provides=(
        "schedule.val_interval", "schedule.validations", "schedule.planned_epochs", "schedule.interval_fraction",
        "schedule.early_stopping",
    ),
)
def schedule_signals(run: Run):
    """How often the run validated, against how long it was planned to be.

    An iteration-based run counts its validations as epochs: its interval is one by construction,
    and its plan is the planned iterations over the iterations between validations."""
    epochs = metric_curve(run).values.at
    if len(epochs) == 0:
        raise MissingInput("validation results with their epoch")
    train = (run.config or {}).get("train", {})
    if run.axis == "iteration":
        interval = 1
        rows = run.series(metric_curve(run).tag)
        steps = np.unique(rows.step)
        every = float(np.median(np.diff(steps))) if len(steps) > 1 else None
        planned_iterations = train.get("max_iters")
        planned = int(round(planned_iterations / every)) if planned_iterations and every else int(epochs[-1])
    else:
        logged_interval = int(np.median(np.diff(epochs))) if len(epochs) > 1 else int(epochs[0])
        interval = int(train.get("val_interval") or logged_interval)
        planned = int(train.get("max_epochs") or run.last_epoch or epochs[-1])
    yield Signal("schedule.val_interval", interval, "epochs")
    yield Signal("schedule.validations", int(len(epochs)), "validations")
    yield Signal("schedule.planned_epochs", planned, "epochs")
    yield Signal("schedule.interval_fraction", interval / max(planned, 1), "share",
                 description="epochs between validations over the planned run length")
    if "early_stopping" in train:
        yield Signal("schedule.early_stopping", train["early_stopping"].get("patience") is not None, "",
                     description="whether anything would have stopped the run early")
