"""The training loop. It reads top to bottom: set up, then epochs of steps,
validating every `train.val_interval` epochs. Everything else — records,
progress, diagnostics — happens in hooks (see `hooks.py` for the events).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from ceph_doctor.store.monitor import Monitor, choose
from ceph_doctor.models import count_parameters
from ceph_doctor.train import distributed
from ceph_doctor.train.checkpoint import load_checkpoint, save_checkpoint
from ceph_doctor.data.dataset import LandmarkDataset
from ceph_doctor.train.evaluate import ValidationResult, evaluate_sequence_split, evaluate_split
from ceph_doctor.train.hooks import Hook, HookList
from ceph_doctor.train.loss import loss_for
from ceph_doctor.train.optim import build_optimizer, build_scheduler
from ceph_doctor.train.precision import precision_for
from ceph_doctor.train.sampling import teacher_forcing_probability
from ceph_doctor.train.setup import codec_for, data_for, model_for, resolve_device


@dataclass
class BestSoFar:
    """The monitored validation metric's best value, and how many validations ago it was."""

    metric: str
    mode: str  # "min" | "max"
    value: float = math.nan
    epoch: int = 0
    stale: int = 0

    def update(self, value: float, epoch: int) -> bool:
        """Whether `value` is a new best, by the same comparison every reader of the run makes."""
        if Monitor(self.metric, self.mode, "").better(value, self.value):
            self.value, self.epoch, self.stale = value, epoch, 0
            return True
        self.stale += 1
        return False


@dataclass
class TrainSummary:
    status: str
    run_dir: Path
    best: BestSoFar
    last: ValidationResult | None


class Trainer:
    def __init__(
        self,
        config: dict,
        run_dir: Path,
        hooks: list[Hook] = (),
        resume: bool = False,
        prepare_progress: Callable[[int], None] | None = None,
    ):
        self.config = config
        self.run_dir = Path(run_dir)
        self.hooks = HookList(list(hooks))
        self.resume = resume
        self.prepare_progress = prepare_progress
        self.epoch = 0
        self.step = 0
        self.should_stop = False
        self.ready = False

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        config, train = self.config, self.config["train"]
        seed_everything(config["seed"])
        self.dist = distributed.context(train["device"])
        self.device = self.dist.device or resolve_device(train["device"])
        self.codec = codec_for(config)
        self.data = data_for(config, self.codec, self.device, self.prepare_progress, self.dist)
        self.names = self.data.names
        self.sequence = config["model"]["head"] == "sequence"
        self.loss_fn = loss_for(config["model"]["head"])
        self.model = model_for(config, len(self.names), self.codec.stride).to(self.device)
        if self.sequence and config["model"]["sequence"]["support"]:
            self.set_support()
        self.sampling_generator = torch.Generator()
        self.forward_model = self.dist.wrap(self.model, config["model"]["unfreeze_after"] is not None)
        if train["compile"]:
            self.forward_model = torch.compile(self.forward_model)
        self.optimizer = build_optimizer(self.model, config)
        self.accumulate = train["accumulate"]
        self.steps_per_epoch = math.ceil(len(self.data.train_loader) / self.accumulate)
        self.scheduler = build_scheduler(self.optimizer, config, self.steps_per_epoch)
        self.precision = precision_for(self.device, train["amp"])
        self.ema = (
            AveragedModel(self.model, multi_avg_fn=ema_with_warmup(train["ema"]), use_buffers=True)
            if train["ema"]
            else None
        )
        self.best = BestSoFar(*monitored(train["early_stopping"]["metric"], self.logged_val_tags()))
        self.start_epoch = 1
        last = self.run_dir / "checkpoints" / "last.pth"
        if self.resume and last.exists():  # killed before its first validation: start over
            self.load_state(last)
        self.ready = True

    # ------------------------------------------------------------------- fit
    def fit(self) -> TrainSummary:
        if not self.ready:
            self.setup()
        train = self.config["train"]
        last: ValidationResult | None = None
        status = "failed"
        self.hooks.on_train_start(trainer=self, config=self.config, run_dir=self.run_dir, start_epoch=self.start_epoch)
        try:
            status = "completed"
            for epoch in range(self.start_epoch, train["max_epochs"] + 1):
                self.epoch = epoch
                self.hooks.on_epoch_start(trainer=self, epoch=epoch)
                mean_loss = self.train_one_epoch(epoch)
                diverged = not math.isfinite(mean_loss)
                if diverged or epoch % train["val_interval"] == 0 or epoch == train["max_epochs"]:
                    last = self.validate(epoch)
                self.hooks.on_epoch_end(trainer=self, epoch=epoch)
                if diverged:
                    status = "diverged"
                    break
                if self.should_stop:
                    status = "early_stopped"
                    break
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except BaseException as error:
            status = "failed"
            self.hooks.on_exception(trainer=self, error=error)
            raise
        finally:
            self.hooks.on_train_end(trainer=self, status=status)
            self.dist.close()
        return TrainSummary(status, self.run_dir, self.best, last)

    def train_one_epoch(self, epoch: int) -> float:
        """One pass over the training data; returns the mean loss (NaN once it diverged)."""
        self.set_frozen(self.backbone_frozen(epoch))
        self.model.train()
        if self.frozen:
            self.model.backbone.eval()  # frozen means frozen: BatchNorm statistics too
        self.data.set_epoch(epoch, self.config["seed"])
        self.sampling_generator.manual_seed(self.config["seed"] * 100_003 + epoch)  # resume repeats the coins
        loader = self.data.train_loader
        loss_sum = torch.zeros((), device=self.device)
        for batch_index, batch in enumerate(loader):
            images = batch["image"].to(self.device, non_blocking=True)
            targets = batch["targets"].to(self.device, non_blocking=True)
            weights = batch["weights"].to(self.device, non_blocking=True)
            loss, step_scalars = self.training_loss(images, targets, weights)
            self.precision.scaler.scale(loss / self.accumulate).backward()
            loss_sum += loss.detach()
            if (batch_index + 1) % self.accumulate and batch_index + 1 != len(loader):
                continue
            self.optimizer_step(epoch, loss.detach(), len(images), step_scalars)
        return self.dist.average(loss_sum / max(1, len(loader))).item()  # the same on every rank

    def training_loss(
        self, images: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float | torch.Tensor]]:
        """The loss to optimise, and the step's other training scalars: for a sequence decoder its
        teacher-forcing probability and teacher-forced loss (which, unlike the optimised one, stays
        comparable while the sampling schedule moves)."""
        if not self.sequence:
            with self.precision.autocast():
                heatmaps = self.forward_model(images)
            return self.loss_fn(heatmaps, targets, weights), {}
        total = self.steps_per_epoch * self.config["train"]["max_epochs"]
        probability = teacher_forcing_probability(self.config["train"]["scheduled_sampling"], self.step / total)
        with self.precision.autocast():
            points, teacher_forced = self.forward_model(
                images, teacher=targets, teacher_forcing=probability, generator=self.sampling_generator,
                with_teacher_forced=True,
            )
        scalars = {"train/teacher_forcing": probability,
                   "train/loss_tf": self.loss_fn(teacher_forced, targets, weights).detach()}
        return self.loss_fn(points, targets, weights), scalars

    def optimizer_step(self, epoch: int, loss: torch.Tensor, batch_size: int, scalars: dict | None = None) -> None:
        scaler = self.precision.scaler
        scaler.unscale_(self.optimizer)
        # Hooks see the gradients before clipping: an exploding norm is what they look for.
        self.hooks.on_before_optimizer_step(
            trainer=self, step=self.step + 1, epoch=epoch, model=self.model, optimizer=self.optimizer
        )
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
        self.hooks.on_step_end(
            trainer=self,
            step=self.step,
            epoch=epoch,
            loss=loss,
            loss_parts={"coordinates" if self.sequence else "heatmap": loss},
            lr=lr,
            grad_norm=grad_norm,
            batch_size=batch_size,
            scalars=scalars or {},
        )

    # ------------------------------------------------------------ validation
    def validate(self, epoch: int) -> ValidationResult:
        model = self.ema.module if self.ema is not None else self.model
        self.dist.sync_buffers(model)  # ranks' BatchNorm statistics diverge under DDP
        result = ValidationResult(epoch=epoch, step=self.step, names=self.names)
        data = self.data
        splits = [("val", data.val_loader, data.val)]
        if len(data.train_subset):
            splits.append(("train", data.train_subset_loader, data.train_subset))
        for split, loader, prepared in splits:
            local = loader.dataset.prepared  # this rank's shard under torch.distributed
            if self.sequence:
                autoregressive, teacher_forced = evaluate_sequence_split(
                    split, model, loader, local, self.codec, self.device, self.precision.autocast
                )
                result.splits[split] = self.dist.gather_split(autoregressive, prepared)
                result.teacher_forced[split] = self.dist.gather_split(teacher_forced, prepared)
                continue
            evaluated = evaluate_split(
                split, model, loader, local, self.codec, self.device, self.precision.autocast,
                skip_stride_rescale=self.config["faults"]["skip_stride_rescale"],
            )
            result.splits[split] = self.dist.gather_split(evaluated, prepared)
        value = result.scalars().get(self.best.metric, math.nan)
        is_best = self.best.update(value, epoch)
        # Records first, checkpoint second: a checkpoint on disk promises its validation's rows are too.
        self.hooks.on_validation_end(trainer=self, epoch=epoch, step=self.step, result=result, is_best=is_best)
        if self.dist.is_main:
            self.save_checkpoints(result, is_best)
        patience = self.config["train"]["early_stopping"]["patience"]
        if patience is not None and self.best.stale >= patience:
            self.should_stop = True
        return result

    def logged_val_tags(self) -> list[str]:
        """The validation metrics each validation will log (mm only when every image has a spacing)."""
        in_mm = not np.isnan(self.data.val.spacing_mm).any()
        return [*(["val/mre_mm"] if in_mm else []), "val/mre_px", "val/nme", "val/pck@0.05", "val/loss"]

    def describe(self) -> dict:
        """What the manifest says about this run beyond its config."""
        from ceph_doctor import __version__

        data = self.data
        spacing = data.val.spacing_mm
        return {
            "tool": {"name": "ceph-doctor", "version": __version__, "torch": torch.__version__},
            "dataset": {
                "source": self.config["data"]["source"],
                "train_images": len(data.train),
                "val_images": len(data.val),
                "train_subset": list(data.train_subset.image_ids),
                "input_size": list(self.config["data"]["input_size"]),
                "original_size": np.median(data.val.original_sizes, axis=0).tolist(),
            },
            "pixel_spacing_mm": None if np.isnan(spacing).all() else float(np.nanmedian(spacing)),
            "model": {
                "arch": self.config["model"]["arch"],
                "head": self.config["model"]["head"],
                "parameters": count_parameters(self.model),
                "backbone_parameters": count_parameters(self.model.backbone),
            },
            "codec": ({"type": "points"} if self.sequence
                      else {"type": "heatmap", "sigma": self.codec.sigma, "stride": self.codec.stride}),
            "device": str(self.device),
            "precision": self.precision.name,
            "world_size": self.dist.world_size,
            "steps_per_epoch": self.steps_per_epoch,
            "monitor": {"metric": self.best.metric, "mode": self.best.mode},
        }

    # ------------------------------------------------------- freeze / state
    def backbone_frozen(self, epoch: int) -> bool:
        unfreeze_after = self.config["model"]["unfreeze_after"]
        if unfreeze_after is None:
            return False
        return unfreeze_after == "never" or epoch <= unfreeze_after

    def set_support(self) -> None:
        """The sequence decoder's support example: the first training image and its landmarks."""
        item = LandmarkDataset(self.data.train, self.codec)[0]
        self.model.set_support(item["image"][None].to(self.device), item["targets"].to(self.device))

    def set_frozen(self, frozen: bool) -> None:
        self.frozen = frozen
        self.model.backbone.requires_grad_(not frozen)

    def save_checkpoints(self, result: ValidationResult, is_best: bool) -> None:
        folder = self.run_dir / "checkpoints"
        evaluated = self.ema.module if self.ema is not None else self.model
        payload = {
            "state_dict": evaluated.state_dict(),
            "config": self.config,
            "names": list(self.names),
            "metrics": result.scalars(),
            "epoch": result.epoch,
            "step": result.step,
        }
        if self.config["train"]["checkpoint_every_val"]:
            save_checkpoint(folder / f"epoch_{result.epoch:04d}.pth", payload)
        if is_best:
            save_checkpoint(folder / "best.pth", payload)
        # last.pth is written last: resuming from it must find everything before it in place.
        save_checkpoint(folder / "last.pth", {**payload, "train_state": self.train_state()})

    def train_state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.precision.scaler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "best": vars(self.best).copy(),
            "should_stop": self.should_stop,
        }

    def load_state(self, path: Path) -> None:
        payload = load_checkpoint(path, map_location=self.device)
        state = payload["train_state"]
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.precision.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        for key, value in state["best"].items():
            setattr(self.best, key, value)
        self.epoch, self.step = payload["epoch"], payload["step"]
        self.start_epoch = payload["epoch"] + 1
        if state["should_stop"]:  # it had already stopped early: nothing left to run
            self.start_epoch = self.config["train"]["max_epochs"] + 1


def monitored(metric: str, logged: list[str]) -> tuple[str, str]:
    """(tag, mode) early stopping watches: `auto` is the monitor's own choice among what is logged."""
    if metric == "auto":
        monitor = choose(logged)
        return monitor.metric, monitor.mode
    from ceph_doctor.errors import ConfigError
    from ceph_doctor.store.meaning import direction

    if direction(metric) is None:
        raise ConfigError(f"train.early_stopping.metric: {metric!r} is not a metric (logged: {', '.join(logged)}, …)")
    return metric, direction(metric)


def ema_with_warmup(decay: float):
    """An exponential moving average whose decay ramps up as min(decay, (1 + n) / (10 + n)).

    A fixed 0.999 averages over ~1000 steps from the random initial weights: a run
    shorter than that validates a blend with its starting point. The ramp (as in
    timm's model EMA) follows the weights closely early and settles at `decay`.
    """

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        count = int(num_averaged)
        weight = 1.0 - min(decay, (1.0 + count) / (10.0 + count))
        for average, value in zip(averaged, current):
            if average.is_floating_point():
                average.lerp_(value, weight)
            else:
                average.copy_(value)  # counters such as BatchNorm's num_batches_tracked

    return update


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
