"""The training loop. It reads top to bottom: set up, then epochs of steps,
validating every `train.val_interval` epochs. Everything else — records,
progress, early stopping, checkpoints — happens in hooks (`hooks.py` lists the
events and what each is given).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ceph_doctor.errors import ConfigError
from ceph_doctor.pipeline import Pipeline, load_splits, resolve_device
from ceph_doctor.train import distributed
from ceph_doctor.train.best import BestSoFar, monitored
from ceph_doctor.train.checkpointing import Checkpointing, EarlyStopping
from ceph_doctor.train.ema import averaged
from ceph_doctor.train.evaluate import ValidationResult, evaluate_split
from ceph_doctor.train.gradients import task_gradients
from ceph_doctor.train.hooks import Hook, HookList
from ceph_doctor.train.interrupts import interrupted_by_termination
from ceph_doctor.landmark_errors import annotator_disagreement
from ceph_doctor.train.manifest import describe_run
from ceph_doctor.train.optim import PlateauReduction, build_optimizer, build_scheduler
from ceph_doctor.train.precision import precision_for
from ceph_doctor.train.resume import ResumeState
from ceph_doctor.train.setup import data_for


@dataclass
class TrainSummary:
    status: str  # completed | early_stopped | diverged | failed | interrupted
    run_dir: Path
    best: BestSoFar
    last: ValidationResult | None
    stop_reason: str | None = None


class Trainer:
    def __init__(self, config: dict, run_dir: Path, hooks: list[Hook] = (), resume: bool = False,
                 prepare_progress: Callable[[int], None] | None = None):
        self.config = config
        self.run_dir = Path(run_dir)
        train = config["train"]
        # The built-in hooks run after the caller's: records are written (and judged, by a live doctor among the
        # caller's hooks) before the checkpoint that promises them.
        self.lr_plateau = PlateauReduction(train["plateau_patience"]) if train["schedule"] == "plateau" else None
        self.hooks = HookList([*hooks, *([self.lr_plateau] if self.lr_plateau else []),
                               EarlyStopping(train["early_stopping"]["patience"]),
                               Checkpointing(self.run_dir / "checkpoints", train["checkpoint_every_val"])])
        self.resume = resume
        self.prepare_progress = prepare_progress
        self.epoch = self.step = 0
        self.stop_reason: str | None = None
        self.ready = False

    def request_stop(self, reason: str) -> None:
        """End the run after the current epoch; what a hook calls (early stopping, a live diagnosis)."""
        self.stop_reason = self.stop_reason or reason

    def emit(self, event: str, **arguments: Any) -> None:
        getattr(self.hooks, event)(request_stop=self.request_stop, **arguments)

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        config, train = self.config, self.config["train"]
        if train.get("threads"):  # before the first operation: CPU results depend on the thread count
            torch.set_num_threads(train["threads"])
        seed_everything(config["seed"])
        self.dist = distributed.context(train["device"])
        self.device = self.dist.device or resolve_device(train["device"])
        splits = load_splits(config)
        self.annotators = annotator_disagreement([record.annotations for record in splits[1].records],
                                                 [record.spacing_mm for record in splits[1].records])
        self.pipeline = Pipeline.from_config(config, len(splits[0].names), self.device)
        self.model = self.pipeline.model
        self.data = data_for(config, splits, self.pipeline.codec, self.device, self.prepare_progress, self.dist)
        if self.pipeline.aux is not None:
            for name, prepared in (("the training data", self.data.train), ("the validation data", self.data.val)):
                self.pipeline.aux.check_labels(prepared.label_names, prepared.labels, name)
        self.pipeline.set_support(self.data.train)
        if self.pipeline.refinement is not None and self.dist.world_size > 1:
            # Stage 2 runs outside the wrapped model's forward, where DDP would not average its gradients.
            raise ConfigError("model.refine: two-stage refinement trains in one process; run it without torchrun")
        self.sampling_generator = torch.Generator()
        self.window_generator = torch.Generator()  # where stage 2's training windows fall
        self.forward_model = self.dist.wrap(self.model, config["model"]["unfreeze_after"] is not None)
        if train["compile"]:
            self.forward_model = torch.compile(self.forward_model)
        self.optimizer = build_optimizer(self.model, config)
        self.accumulate = train["accumulate"]
        self.steps_per_epoch = math.ceil(len(self.data.train_loader) / self.accumulate)
        self.scheduler = build_scheduler(self.optimizer, config, self.steps_per_epoch)
        if self.lr_plateau:
            self.lr_plateau.follow(self.scheduler)
        self.precision = precision_for(self.device, train["amp"])
        self.ema = averaged(self.model, train["ema"]) if train["ema"] else None
        self.best = BestSoFar(*monitored(train["early_stopping"]["metric"], logged_val_tags(self.data)))
        self.resume_state = ResumeState(self.model, self.optimizer, self.scheduler, self.precision.scaler,
                                        self.ema, self.best)
        self.start_epoch = 1
        last = self.run_dir / "checkpoints" / "last.pth"
        if self.resume and last.exists():  # killed before its first validation: start over
            self.epoch, self.step, self.stop_reason = self.resume_state.restore(last, self.device)
            # It had already stopped: nothing left to run.
            self.start_epoch = train["max_epochs"] + 1 if self.stop_reason else self.epoch + 1
        self.ready = True

    # ------------------------------------------------------------------- fit
    def fit(self) -> TrainSummary:
        """Train; SIGTERM and SIGHUP end it as Ctrl-C does (status "interrupted", resumable)."""
        with interrupted_by_termination():
            return self._fit()

    def _fit(self) -> TrainSummary:
        if not self.ready:
            self.setup()
        train = self.config["train"]
        last: ValidationResult | None = None
        status = "failed"
        self.emit(
            "on_train_start", config=self.config, run_dir=self.run_dir, landmarks=self.data.names,
            manifest=describe_run(self.pipeline, self.data, annotators=self.annotators, device=self.device,
                                  precision=self.precision.name,
                                  world_size=self.dist.world_size, steps_per_epoch=self.steps_per_epoch,
                                  best=self.best),
            resume_after=(self.step, self.epoch) if self.resume else None, start_epoch=self.start_epoch,
            steps_per_epoch=self.steps_per_epoch, is_main=self.dist.is_main, world_size=self.dist.world_size,
            best=self.best,
        )
        try:
            status = "completed"
            for epoch in range(self.start_epoch, train["max_epochs"] + 1):
                self.epoch = epoch
                self.emit("on_epoch_start", epoch=epoch)
                mean_loss = self.train_one_epoch(epoch)
                diverged = not math.isfinite(mean_loss)
                if diverged or epoch % train["val_interval"] == 0 or epoch == train["max_epochs"]:
                    last = self.validate(epoch)
                self.emit("on_epoch_end", epoch=epoch, model=self.model)
                if diverged:
                    status = "diverged"
                    break
                if self.stop_reason:
                    status = "early_stopped"
                    break
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except BaseException as error:
            status = "failed"
            self.emit("on_exception", error=error)
            raise
        finally:
            self.emit("on_train_end", status=status, stop_reason=self.stop_reason, best=self.best,
                      run_dir=self.run_dir)
            self.dist.close()
        return TrainSummary(status, self.run_dir, self.best, last, self.stop_reason)

    def train_one_epoch(self, epoch: int) -> float:
        """One pass over the training data; returns the mean loss (NaN once it diverged)."""
        stage_one, stage_two = self.pipeline.train_mode(epoch)
        self.data.set_epoch(epoch, self.config["seed"])
        self.sampling_generator.manual_seed(self.config["seed"] * 100_003 + epoch)  # resume repeats the coins
        self.window_generator.manual_seed(self.config["seed"] * 100_003 + epoch)
        loader = self.data.train_loader
        loss_sum = torch.zeros((), device=self.device)
        self.data_seconds = 0.0  # waited for batches since the last optimizer step
        for batch_index, batch in enumerate(self.timed(loader)):
            images = batch["image"].to(self.device, non_blocking=True)
            targets = batch["targets"].to(self.device, non_blocking=True)
            weights = batch["weights"].to(self.device, non_blocking=True)
            with torch.set_grad_enabled(stage_one):  # a frozen stage 1's loss is still recorded
                parts, step_scalars = self.training_loss(images, targets, weights)
            if self.pipeline.aux is not None and stage_one:
                self.add_aux_loss(parts, step_scalars, batch["labels"].to(self.device, non_blocking=True))
            if stage_two:
                parts["refine"] = self.pipeline.refinement_loss(
                    self.model, batch["sharper"].to(self.device, non_blocking=True),
                    batch["points"].to(self.device, non_blocking=True), self.window_generator, self.data.names)
            loss = sum(parts.values())
            self.precision.scaler.scale(loss / self.accumulate).backward()
            loss_sum += loss.detach()
            if (batch_index + 1) % self.accumulate and batch_index + 1 != len(loader):
                continue
            self.optimizer_step(epoch, loss.detach(), {name: part.detach() for name, part in parts.items()},
                                len(images), step_scalars)
        return self.dist.average(loss_sum / max(1, len(loader))).item()  # the same on every rank

    def timed(self, loader):
        """The loader's batches, adding the time spent waiting for each to `self.data_seconds`: the share of a
        step the model waits for data is what says a run is data-bound."""
        batches = iter(loader)
        while True:
            started = time.perf_counter()
            batch = next(batches, None)
            self.data_seconds += time.perf_counter() - started
            if batch is None:
                return
            yield batch

    def training_loss(self, images: torch.Tensor, targets: torch.Tensor,
                      weights: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, float | torch.Tensor]]:
        """The loss to optimise, as its named parts (their sum), and the step's other training scalars:
        for an autoregressive decoder its teacher-forcing probability and teacher-forced loss (which,
        unlike the optimised one, stays comparable while the sampling schedule moves)."""
        loss = self.pipeline.loss
        if not self.pipeline.autoregressive:
            with self.precision.autocast():
                output = self.forward_model(images)
            return self.pipeline.loss_parts(output, targets, weights), {}
        total_steps = self.steps_per_epoch * self.config["train"]["max_epochs"]
        probability = self.pipeline.teacher_forcing_at(self.step / total_steps)
        with self.precision.autocast():
            points, teacher_forced = self.forward_model(
                images, teacher=targets, teacher_forcing=probability, generator=self.sampling_generator,
                with_teacher_forced=True,
            )
        scalars = {"train/teacher_forcing": probability, "train/loss_tf": loss(teacher_forced, targets, weights).detach()}
        return self.pipeline.loss_parts(points, targets, weights), scalars

    def add_aux_loss(self, parts: dict[str, torch.Tensor], scalars: dict, labels: torch.Tensor) -> None:
        """The auxiliary task's loss as the part `aux`; on logged steps, what each task sends into the backbone."""
        parts["aux"] = self.pipeline.aux_loss(self.model, labels, self.data.train.label_names)
        if (self.step + 1) % self.config["train"]["log_every"] == 0:
            landmarks = sum(value for name, value in parts.items() if name != "aux")
            scalars.update(task_gradients({"landmarks": landmarks, "aux": parts["aux"]},
                                          list(self.model.backbone.parameters())))

    def optimizer_step(self, epoch: int, loss: torch.Tensor, loss_parts: dict[str, torch.Tensor], batch_size: int,
                       scalars: dict) -> None:
        scaler = self.precision.scaler
        scaler.unscale_(self.optimizer)
        # Hooks see the gradients before clipping: an exploding norm is what they look for.
        self.emit("on_before_optimizer_step", step=self.step + 1, epoch=epoch, model=self.model,
                  optimizer=self.optimizer)
        grad_clip = self.config["train"]["grad_clip"]
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), grad_clip) if grad_clip else None
        lr = self.optimizer.param_groups[0]["lr"]
        scaler.step(self.optimizer)
        scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.step += 1
        data_seconds, self.data_seconds = self.data_seconds, 0.0
        self.emit("on_step_end", step=self.step, epoch=epoch, loss=loss, loss_parts=loss_parts,
                  lr=lr, grad_norm=grad_norm, batch_size=batch_size, model=self.model, scalars=scalars,
                  data_seconds=data_seconds)

    # ------------------------------------------------------------ validation
    def validate(self, epoch: int) -> ValidationResult:
        model = self.ema.module if self.ema is not None else self.model
        self.dist.sync_buffers(model)  # ranks' BatchNorm statistics diverge under DDP
        result = ValidationResult(epoch=epoch, step=self.step, names=self.data.names)
        data = self.data
        splits = [("val", data.val_loader, data.val)]
        if len(data.train_subset):
            splits.append(("train", data.train_subset_loader, data.train_subset))
        for split, loader, prepared in splits:
            local = loader.dataset.prepared  # this rank's shard under torch.distributed
            arguments = (split, self.pipeline, loader, local, self.device, self.precision.autocast, model)
            # The split's result is the autoregressive one, as inference runs; teacher-forced beside it.
            result.splits[split] = self.dist.gather_split(evaluate_split(*arguments), prepared)
            if self.pipeline.autoregressive:
                teacher_forced = evaluate_split(*arguments, teacher_forced=True)
                result.teacher_forced[split] = self.dist.gather_split(teacher_forced, prepared)
            if self.pipeline.tta_views and split == "val":  # the views cost a pass each: the validation images only
                result.tta[split] = self.dist.gather_split(evaluate_split(*arguments, tta=True), prepared)
            if self.pipeline.refinement is not None and split == "val":  # one process: local is the whole split
                result.refined[split] = evaluate_split(*arguments, refine_from=result.splits[split])
        is_best = self.best.update(result.scalars().get(self.best.metric, math.nan), epoch)
        self.emit("on_validation_end", epoch=epoch, step=self.step, result=result, is_best=is_best, best=self.best,
                  evaluated_model=model, config=self.config,
                  resume_state=lambda: self.resume_state.capture(self.stop_reason))
        return result


def logged_val_tags(data) -> list[str]:
    """The validation metrics each validation will log (mm only when every image has a spacing)."""
    in_mm = not np.isnan(data.val.spacing_mm).any()
    return [*(["val/mre_mm"] if in_mm else []), "val/mre_px", "val/nme", "val/pck@0.05", "val/loss"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
