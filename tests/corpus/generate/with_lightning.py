"""Lightning 2.x trainings: a LightningModule around the shared model, logged with CSVLogger (metrics.csv +
hparams.yaml under lightning_logs/version_N/), LearningRateMonitor (`lr-Adam`), sometimes a TensorBoardLogger too.
Each case runs as a child process whose stdout and stderr go to one file, as a Slurm job's .out does
(progress bars and all), where the case keeps that capture.
python tests/corpus/generate/with_lightning.py [case ...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import torch

import common
from common import LandmarkDataset, case_dir, data_for, freeze, landmark_metrics, recipe, selected

warnings.filterwarnings("ignore")


def build_module(plan, log_peak=False, debug_prints=False, extra_tb=False, shuffled_val=False):
    import lightning as L

    class LandmarkModule(L.LightningModule):
        def __init__(self, lr, optimizer, model, sigma, stride, freeze_backbone, image_size, input_size,
                     pixel_spacing_mm, n_train, batch_size, max_epochs):
            super().__init__()
            self.save_hyperparameters()
            self.task = plan.task
            self.model = plan.task.build()
            if freeze_backbone:
                freeze(self.model.backbone)
            self.outputs = []

        def training_step(self, batch, batch_idx):
            loss = self.task.forward_loss(self.model, batch["image"], batch["target"])
            self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
            return loss

        def validation_step(self, batch, batch_idx):
            images, target = batch["image"], batch["target"]
            if self.task.kind == "sequence":
                tf = self.model(images, teacher=target)
                ar = self.model(images)
                self.log("val_coords_loss_tf", self.task.criterion(tf, target), on_epoch=True)
                self.outputs.append((ar.numpy(), batch["index"].numpy(), float(self.task.criterion(ar, target))))
            else:
                out = self.task.predict(self.model, images)
                self.log("val_loss", self.task.criterion(out["raw"], target), on_epoch=True, prog_bar=True)
                self.outputs.append((out, batch["index"].numpy()))

        def on_validation_epoch_end(self):
            val = self.trainer.datamodule_val
            if self.task.kind == "sequence":
                pred = np.concatenate([o[0] for o in self.outputs]) * np.array([common.ORIG_W, common.ORIG_H])
                ar_loss = float(np.mean([o[2] for o in self.outputs]))
                if extra_tb:  # the free-running loss goes to TensorBoard only
                    self.loggers[1].experiment.add_scalar("val_coords_loss_ar", ar_loss, self.current_epoch)
                else:
                    self.log("val_coords_loss_ar", ar_loss)
            else:
                pred = np.concatenate([o[0]["pred"] for o in self.outputs])
                if log_peak:
                    self.log("heatmap/peak", float(np.median(np.concatenate([o[0]["peak"] for o in self.outputs]))))
            index = np.concatenate([o[-2] if self.task.kind == "sequence" else o[1] for o in self.outputs])
            if shuffled_val:  # the bug: annotations taken in file order, predictions in the loader's order
                index = np.arange(len(index))
            gt = val.landmarks[index]
            metrics = landmark_metrics(pred, gt)
            self.log("val_mre", metrics["mre_px"], prog_bar=True)
            self.log("val_pck", metrics["pck"])
            if debug_prints and not self.trainer.sanity_checking:
                print(f"[epoch {self.current_epoch}] val predictions (x, y):")
                for i in range(min(6, len(index))):
                    print(f"image_id={int(val.ids[index[i]])}")
                    for k in range(pred.shape[1]):
                        print(f"  {val.names[k]}: pred=({pred[i, k, 0]:.3f}, {pred[i, k, 1]:.3f}) "
                              f"gt=({gt[i, k, 0]:.1f}, {gt[i, k, 1]:.1f})")
            self.outputs.clear()

        def configure_optimizers(self):
            params = [p for p in self.model.parameters() if p.requires_grad]
            if self.hparams.optimizer == "sgd":
                optimizer = torch.optim.SGD(params, lr=self.hparams.lr, momentum=0.9)
            else:
                optimizer = torch.optim.Adam(params, lr=self.hparams.lr)
            if plan.schedule != "cosine":
                return optimizer
            steps = self.hparams.max_epochs * -(-self.hparams.n_train // self.hparams.batch_size)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    return LandmarkModule(lr=plan.lr, optimizer=plan.optimizer, model=plan.task.kind, sigma=plan.task.sigma if plan.task.kind == "heatmap" else None,
                          stride=plan.task.stride if plan.task.kind == "heatmap" else None, freeze_backbone=plan.freeze_backbone,
                          image_size=[common.ORIG_W, common.ORIG_H], input_size=[common.IN_W, common.IN_H],
                          pixel_spacing_mm=round(common.SPACING_MM, 4), n_train=plan.n_train,
                          batch_size=plan.batch_size, max_epochs=plan.epochs)


def fit(path, plan, tb=False, log_peak=False, debug_prints=False, progress=False, summary=False, val_every=1,
        shuffled_val=False):
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor, TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    L.seed_everything(plan.seed, workers=True)
    common.seed_everything(plan.seed)
    train, val = data_for(plan)
    plan.task.k = len(train.names)
    module = build_module(plan, log_peak=log_peak, debug_prints=debug_prints, extra_tb=tb, shuffled_val=shuffled_val)
    loggers = [CSVLogger(save_dir=str(path), name="lightning_logs")]
    if tb:
        loggers.append(TensorBoardLogger(save_dir=str(path), name="tb_logs"))
    trainer = L.Trainer(max_epochs=plan.epochs, accelerator="cpu", devices=1, logger=loggers,
                        callbacks=[LearningRateMonitor(logging_interval="step")] + ([TQDMProgressBar(refresh_rate=2)] if progress else []), log_every_n_steps=plan.log_every,
                        check_val_every_n_epoch=val_every, enable_checkpointing=False,
                        enable_progress_bar=progress, enable_model_summary=summary, deterministic=True,
                        num_sanity_val_steps=0)
    trainer.datamodule_val = val
    train_loader = common.loader(LandmarkDataset(train, plan.task, plan.inplace_drift, plan.seed), plan.batch_size,
                                 True, plan.seed)
    val_loader = common.loader(LandmarkDataset(val, plan.task), 64, shuffle=shuffled_val, seed=1234)
    trainer.fit(module, train_loader, val_loader)


# ------------------------------------------------------------------------------------------------ cases

def lightning_healthy(path):
    fit(path, recipe("healthy_regression"))


def lightning_overfit(path):
    fit(path, recipe("overfit_heatmap"))


def lightning_frozen(path):
    fit(path, recipe("frozen_regression"), summary=True, progress=True)


def lightning_exposure(path):
    fit(path, recipe("exposure"), tb=True)


def lightning_sigma_small(path):
    fit(path, recipe("sigma_small"), log_peak=True)


def lightning_diverged(path):
    fit(path, recipe("diverged_heatmap", log_every=1))


def lightning_two_fits(path):
    """The same script run twice in one job: lr 1e-7 (a typo for 1e-3), then lr 1e-3."""
    print("==== run 1: python train.py --lr 1e-7", flush=True)
    fit(path, recipe("healthy_regression", lr=1e-7, epochs=15), progress=True, summary=True)
    print("==== run 2: python train.py --lr 1e-3", flush=True)
    fit(path, recipe("healthy_regression", lr=1e-3, epochs=15), progress=True, summary=True)


def lightning_sparse(path):
    fit(path, recipe("healthy_regression", epochs=40), val_every=5)


def lightning_norm_bug(path):
    """The validation compares the regression head's normalised outputs with pixel ground truth."""
    fit(path, recipe("healthy_regression", epochs=20, task={"eval_bug": "normalised"}), debug_prints=True,
        progress=True)


def lightning_shuffled_val(path):
    """val DataLoader(shuffle=True); the metric takes the annotations in file order."""
    fit(path, recipe("healthy_regression", n_val=16), shuffled_val=True)


CASES = {f.__name__: f for f in (lightning_shuffled_val, lightning_healthy, lightning_overfit, lightning_frozen, lightning_exposure,
                                  lightning_sigma_small, lightning_diverged, lightning_two_fits, lightning_sparse,
                                  lightning_norm_bug)}
CAPTURED = {"lightning_frozen": "slurm-48213.out", "lightning_two_fits": "slurm-48377.out",
            "lightning_norm_bug": "train.out"}

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        name = sys.argv[2]
        CASES[name](common.CASES / name)
        sys.exit(0)
    for name in selected(CASES):
        path = case_dir(name)
        capture = CAPTURED.get(name)
        env = dict(os.environ, PYTHONWARNINGS="ignore", COLUMNS="100")
        with open(path / capture if capture else os.devnull, "w") as stream:
            subprocess.run([sys.executable, __file__, "--child", name], stdout=stream, stderr=subprocess.STDOUT,
                           env=env, check=True, cwd=path)
        print("wrote", name, flush=True)
