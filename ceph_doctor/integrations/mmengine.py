"""`CephDoctorHook`: the Recorder inside MMEngine training (MMPose, MMDetection, any MMEngine Runner).

In a config:

    custom_imports = dict(imports=["ceph_doctor.integrations.mmengine"], allow_failed_imports=False)
    custom_hooks = [dict(type="CephDoctorHook", every_n_steps=10)]

It writes a ceph-doctor run to `<work_dir>/ceph-doctor` (or `run_dir`):

- every `every_n_steps` iterations: `train/loss` and its parts from the model's `log_vars`, the
  other log_vars as `train/<name>`, `optim/lr`, gradient norms per top-level module as the
  optimizer is about to step (after MMEngine's clipping; `grad/norm_before_clip` when `clip_grad`
  is set) and update ratios;
- at each validation: the evaluator's metrics as `val/<name>`, and per-image predictions. Each data
  sample the model's `val_step` returns goes through `sample_parser`; the default reads MMPose's
  `PoseDataSample`: `pred_instances.keypoints` and `gt_instances.keypoints` (the first instance,
  original-image pixels, as MMPose's estimators map them back), `gt_instances.keypoints_visible`,
  `pred_instances.keypoint_scores` as the heatmap peak, and `img_id` / `img_path` / `spacing_mm`
  from the metainfo. Give `train_subset` (a dataloader or its config over a few fixed training
  images, with the val pipeline) and the same is recorded as split "train", which is what shows
  overfitting per landmark.

After each validation the live doctor judges the run so far and prints what it finds once (on stderr, and
into the run's doctor.jsonl); `doctor="error"` (or "warning") also ends training through the loop's
`stop_training` flag, as MMEngine's EarlyStoppingHook does, the reason in the run's manifest; `doctor=None`
switches it off.

A sample the parser cannot read is skipped, never raised on. Landmark names come from `landmarks`,
else the dataset's `keypoint_id2name` (MMPose metainfo). Only rank 0 writes.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import mmengine
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ceph_doctor.frameworks.mmengine import from_config
from ceph_doctor.integrations.collect import to_float, to_numpy
from ceph_doctor.integrations.session import RecorderSession, canonical

SampleParser = Callable[[Any], "Mapping[str, Any] | None"]


def _field(item: Any, name: str) -> Any:
    """`item.name` or `item[name]`: samples arrive as data elements or, once converted, as dicts."""
    if item is None:
        return None
    if isinstance(item, Mapping):
        return item.get(name)
    try:
        return getattr(item, name, None)
    except Exception:  # a data element may raise something other than AttributeError
        return None


def mmpose_sample(sample: Any) -> dict[str, Any] | None:
    """An MMPose `PoseDataSample` as {image_id, pred (K, 2), true (K, 2), spacing_mm, peak}; None if unusable."""
    pred_instances, gt_instances = _field(sample, "pred_instances"), _field(sample, "gt_instances")
    pred, true = to_numpy(_field(pred_instances, "keypoints")), to_numpy(_field(gt_instances, "keypoints"))
    if pred is None or true is None or pred.ndim != 3 or true.ndim != 3 or not len(pred) or not len(true):
        return None
    true = true[0].copy()
    visible = to_numpy(_field(gt_instances, "keypoints_visible"))
    if visible is not None and visible.size == len(true):
        true[visible.reshape(-1) <= 0] = float("nan")  # an unannotated landmark is NaN in the run store
    scores = to_numpy(_field(pred_instances, "keypoint_scores"))
    image_id = _field(sample, "img_id")
    if image_id is None and _field(sample, "img_path") is not None:
        image_id = Path(str(_field(sample, "img_path"))).name
    return {
        "image_id": image_id,
        "pred": pred[0],
        "true": true,
        "spacing_mm": _field(sample, "spacing_mm"),
        "peak": None if scores is None or scores.ndim != 2 else scores[0],
    }


def _resolve(parser: SampleParser | str) -> SampleParser:
    if isinstance(parser, str):  # "package.module:function", as a config file can name one
        module, _, name = parser.partition(":")
        return getattr(importlib.import_module(module), name)
    return parser


@HOOKS.register_module()
class CephDoctorHook(Hook):
    priority = "BELOW_NORMAL"  # after RuntimeInfoHook has put this iteration's lr in the message hub

    def __init__(
        self,
        run_dir: str | None = None,
        every_n_steps: int = 10,
        tensorboard: bool = True,
        landmarks: Sequence[str] | None = None,
        spacing_mm: float | None = None,
        decode: str = "heatmap",
        sample_parser: SampleParser | str = mmpose_sample,
        train_subset: Any = None,
        doctor: str | None = "never",
    ):
        self.run_dir = run_dir
        self.spacing_mm = spacing_mm
        self.sample_parser = _resolve(sample_parser)
        self.train_subset = train_subset
        self.session = RecorderSession(every_n_steps, tensorboard, landmarks, spacing_mm, decode, doctor)
        self._step_hooks: list = []

    # ------------------------------------------------------------- training
    def before_train(self, runner) -> None:
        session = self.session
        if session.landmarks is None:
            session.landmarks = _dataset_landmarks(runner)
        resuming = runner.iter > 0
        session.start(
            self.run_dir or Path(runner.work_dir) / "ceph-doctor",
            (runner.iter, runner.epoch) if resuming else None,
            config=canonical_config(runner),
            framework={"name": "mmengine", "version": mmengine.__version__, "config": _safe(runner.cfg.to_dict)},
            steps_per_epoch=_safe(lambda: len(runner.train_dataloader)),
        )
        if not session.active:
            return
        if self.train_subset is not None and not isinstance(self.train_subset, torch.utils.data.DataLoader):
            self.train_subset = runner.build_dataloader(self.train_subset, seed=runner.seed)
        # MMEngine has no hook between backward and step; the optimizer's own pre-step hook is that moment.
        model = _bare_model(runner)

        def measure(*_: Any) -> None:
            session.before_optimizer_step(runner.iter + 1, model)

        for wrapper in getattr(runner.optim_wrapper, "optim_wrappers", {"": runner.optim_wrapper}).values():
            self._step_hooks.append(wrapper.optimizer.register_step_pre_hook(measure))

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        step = runner.iter + 1
        if not self.session.records_step(step) or not isinstance(outputs, Mapping):
            return
        loss = outputs.get("loss")
        if loss is None:  # a model whose log_vars lack the total: add up its losses as MMEngine would
            losses = [to_float(v) for k, v in outputs.items() if "loss" in k]
            loss = sum(v for v in losses if v is not None) if losses else None
        parts = {k: v for k, v in outputs.items() if k != "loss" and "loss" in k}
        extra = {f"train/{k}": to_float(v) for k, v in outputs.items() if k != "loss" and "loss" not in k}
        extra["grad/norm_before_clip"] = _hub_scalar(runner, "train/grad_norm")
        self.session.step_end(
            step, runner.epoch + 1, loss, _bare_model(runner), lr=_lr(runner), loss_parts=parts,
            extra={tag: value for tag, value in extra.items() if value is not None},
        )

    def after_train(self, runner) -> None:
        for handle in self._step_hooks:
            handle.remove()
        self._step_hooks.clear()
        self.session.close("completed")

    # ----------------------------------------------------------- validation
    def before_val_epoch(self, runner) -> None:
        self.session.predictions.clear()

    def after_val_iter(self, runner, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        if self.session.active:
            self._collect("val", outputs)

    def after_val_epoch(self, runner, metrics: Mapping[str, Any] | None = None) -> None:
        if not self.session.active:
            return
        if self.train_subset is not None:
            with torch.no_grad():
                for batch in self.train_subset:
                    self._collect("train", runner.model.val_step(batch))
        if self.session.validation_end(runner.epoch, runner.iter, metrics) is not None:
            runner.train_loop.stop_training = True  # MMEngine's own way to end the loop, as its EarlyStoppingHook does

    def _collect(self, split: str, samples: Any) -> None:
        for sample in samples if isinstance(samples, Sequence) else ():
            try:
                parsed = self.sample_parser(sample)
            except Exception:  # a user's parser failing on one sample must not end the training
                parsed = None
            if parsed:
                spacing = parsed.get("spacing_mm")
                self.session.predictions.add(
                    split, parsed.get("pred"), parsed.get("true"), parsed.get("image_id"),
                    self.spacing_mm if spacing is None else spacing, parsed.get("peak"),
                )


def canonical_config(runner) -> dict[str, Any]:
    """Canonical keys read off the runner, so a diagnosis's fix names a setting this run has: its config
    through the framework's one table, with what the live objects say over it."""
    config = from_config(_safe(lambda: runner.cfg.to_dict()) or {})
    optimizer = _safe(lambda: runner.optim_wrapper.optimizer.defaults) or {}
    live = {
        "data": {"batch_size": _safe(lambda: runner.train_dataloader.batch_size)},
        "optimizer": {"name": _safe(lambda: type(runner.optim_wrapper.optimizer).__name__.lower()),
                      "lr": optimizer.get("lr"), "weight_decay": optimizer.get("weight_decay")},
        "train": {"max_epochs": _safe(lambda: runner.max_epochs), "val_interval": _safe(lambda: runner.val_interval)},
    }
    for section, keys in live.items():
        config.setdefault(section, {}).update({key: value for key, value in keys.items() if value is not None})
    return canonical(config)


def _dataset_landmarks(runner) -> list[str] | None:
    for loader in ("val_dataloader", "train_dataloader"):
        meta = _safe(lambda: getattr(runner, loader).dataset.metainfo) or {}
        names = meta.get("keypoint_id2name")
        if isinstance(names, Mapping) and names:
            return [str(names[key]) for key in sorted(names)]
        names = meta.get("keypoint_names") or meta.get("landmarks")
        if isinstance(names, Sequence) and names and not isinstance(names, str):
            return [str(name) for name in names]
    return None


def _bare_model(runner) -> torch.nn.Module:
    return runner.model.module if is_model_wrapper(runner.model) else runner.model


def _lr(runner) -> float | None:
    value = _hub_scalar(runner, "train/lr")  # RuntimeInfoHook's: the lr this iteration used
    if value is None:
        lrs = _safe(lambda: runner.optim_wrapper.get_lr()) or {}
        value = next((to_float(group[0]) for group in lrs.values() if group), None)
    return value


def _hub_scalar(runner, key: str) -> float | None:
    hub = runner.message_hub
    return to_float(hub.get_scalar(key).current()) if key in hub.log_scalars else None


def _safe(read: Callable[[], Any]) -> Any:
    """A value an MMEngine setup may lack (no cfg, no dataloader, another optimizer wrapper): None then."""
    try:
        return read()
    except Exception:
        return None
