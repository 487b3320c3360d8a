"""MMEngine 0.10 Runner trainings (the engine under MMPose 1.x), built from a config with registered classes.

The work dir is what MMEngine writes: <work_dir>/<timestamp>/<timestamp>.log (the text log, where the custom
metric also prints per-landmark debug lines through the runner's logger), vis_data/scalars.json (one JSON
object per logged iteration / validation), vis_data/<timestamp>.json and vis_data/config.py.
Names as MMPose uses them: `loss`, `loss_kpt`, `acc_pose`, `PCK`, `NME`, `EPE`, `base_lr`, `grad_norm`.
python tests/corpus/generate/with_mmengine.py [case ...]
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, HOOKS, METRICS, MODELS
from mmengine.runner import Runner

import common
from common import LandmarkDataset, Task, freeze, landmark_metrics, load, recipe, selected

warnings.filterwarnings("ignore")
logging.getLogger("py.warnings").setLevel(logging.ERROR)


def task_from(cfg: dict) -> Task:
    return Task(**cfg)


@DATASETS.register_module()
class SyntheticCephDataset(LandmarkDataset):
    def __init__(self, split: str, count: int, task: dict, label_noise_px: float = 0.0, seed: int = 0,
                 inplace_drift: dict | None = None):
        super().__init__(load(split, count, 0, None, label_noise_px), task_from(task), inplace_drift, seed)
        self.metainfo = {"dataset_name": "synthetic_ceph", "num_keypoints": 19}


@MODELS.register_module()
class CephLandmarkModel(BaseModel):
    def __init__(self, task: dict, freeze_backbone: bool = False):
        super().__init__()
        self.task = task_from(task)
        model = self.task.build()
        self.backbone, self.head = model.backbone, model.head
        self.net = model
        if freeze_backbone:
            freeze(self.backbone)

    def forward(self, image, target=None, index=None, mode="tensor"):
        if mode == "loss":
            loss = self.task.forward_loss(self.net, image, target)
            out = {"loss_kpt": loss}
            if self.task.kind == "heatmap":
                with torch.no_grad():  # MMPose's acc_pose: PCK of argmax on the training batch, in heatmap px
                    pred, _ = self.task.decode_heatmaps(self.net(image).detach())
                    true, _ = self.task.decode_heatmaps(target)
                    out["acc_pose"] = torch.tensor(float(np.mean(np.linalg.norm(pred - true, axis=-1) < 0.5 * 5)))
            return out
        if mode == "predict":
            out = self.task.predict(self.net, image)
            result = [{"pred": out["pred"][i], "index": int(index[i])} for i in range(len(image))]
            if "peak" in out:
                for i, r in enumerate(result):
                    r["peak"] = out["peak"][i]
            return result
        return self.net(image)


@METRICS.register_module()
class CephKeypointMetric(BaseMetric):
    """PCK / NME / EPE over the validation set; debug_images > 0 also logs per-landmark pred/gt lines."""

    default_prefix = None

    def __init__(self, split_count: int = 12, debug_images: int = 0, report_peak: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.truth = load("val", split_count)
        self.debug_images, self.report_peak = debug_images, report_peak

    def process(self, data_batch, data_samples):
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        results = sorted(results, key=lambda r: r["index"])
        pred = np.stack([r["pred"] for r in results])
        gt = self.truth.landmarks[[r["index"] for r in results]]
        m = landmark_metrics(pred, gt)
        logger = MMLogger.get_current_instance()
        for i in range(min(self.debug_images, len(results))):
            logger.info(f"image_id={int(self.truth.ids[results[i]['index']])}")
            for k in range(pred.shape[1]):
                logger.info(f"  kpt {k}: pred=({pred[i, k, 0]:.1f}, {pred[i, k, 1]:.1f}) "
                            f"gt=({gt[i, k, 0]:.1f}, {gt[i, k, 1]:.1f})")
        out = {"PCK": m["pck"], "NME": m["nme"], "EPE": m["mre_px"]}
        if self.report_peak:
            out["hm_max"] = float(np.median(np.stack([r["peak"] for r in results])))
        return out


@METRICS.register_module()
class SequenceLossMetric(BaseMetric):
    """Teacher-forced and free-running coordinate losses of the sequence decoder, plus EPE of the latter."""

    default_prefix = None

    def __init__(self, task: dict, **kwargs):
        super().__init__(**kwargs)
        self.truth = load("val", 12)
        self.task = task_from(task)
        self.model = None

    def process(self, data_batch, data_samples):
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        net = self.model
        images = torch.from_numpy(self.truth.images)
        target = self.task.targets(self.truth.landmarks)
        with torch.no_grad():
            net.eval()
            tf = float(self.task.criterion(net(images, teacher=target), target))
            ar_out = net(images)
            ar = float(self.task.criterion(ar_out, target))
        pred = ar_out.numpy() * np.array([common.ORIG_W, common.ORIG_H])
        m = landmark_metrics(pred, self.truth.landmarks)
        return {"coord_loss_teacher": tf, "coord_loss_free": ar, "EPE": m["mre_px"], "PCK": m["pck"]}


@HOOKS.register_module()
class TrainableParamsHook(Hook):
    """Logs the share of trainable weights, as some people do when fine-tuning with frozen stages."""

    def before_train(self, runner):
        model = runner.model
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        runner.logger.info(f"trainable params: {trainable:,} / {total:,} ({100 * trainable / total:.2f}%)")
        self.frac = trainable / total

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        runner.message_hub.update_scalar("train/frac_trainable", self.frac)


@HOOKS.register_module()
class SequenceMetricModelHook(Hook):
    def before_val(self, runner):
        for metric in runner.val_evaluator.metrics:
            if isinstance(metric, SequenceLossMetric):
                metric.model = runner.model.net


def config(name, plan, *, iter_based=False, val_interval=1, max_iters=None, debug_images=0, report_peak=False,
           trainable_hook=False, clip=None, log_interval=2):
    task = {f: getattr(plan.task, f) for f in ("kind", "stride", "sigma", "decode", "loss", "eval_bug", "channels",
                                               "head", "norm", "hidden")}
    train_dataset = dict(type="SyntheticCephDataset", split="train", count=plan.n_train, task=task,
                         label_noise_px=plan.label_noise_px, seed=plan.seed, inplace_drift=plan.inplace_drift)
    optimizer = (dict(type="SGD", lr=plan.lr, momentum=0.9) if plan.optimizer == "sgd"
                 else dict(type="Adam", lr=plan.lr))
    if plan.task.kind == "sequence":
        evaluator = dict(type="SequenceLossMetric", task=task)
    else:
        evaluator = dict(type="CephKeypointMetric", split_count=plan.n_val, debug_images=debug_images,
                         report_peak=report_peak)
    custom_hooks = []
    if trainable_hook:
        custom_hooks.append(dict(type="TrainableParamsHook"))
    if plan.task.kind == "sequence":
        custom_hooks.append(dict(type="SequenceMetricModelHook"))
    cfg = dict(
        model=dict(type="CephLandmarkModel", task=task, freeze_backbone=plan.freeze_backbone),
        work_dir=str(common.CASES / name),
        train_dataloader=dict(batch_size=plan.batch_size, num_workers=0, dataset=train_dataset,
                              sampler=dict(type="InfiniteSampler" if iter_based else "DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        val_dataloader=dict(batch_size=16, num_workers=0,
                            dataset=dict(type="SyntheticCephDataset", split="val", count=plan.n_val, task=task),
                            sampler=dict(type="DefaultSampler", shuffle=False), collate_fn=dict(type="default_collate")),
        val_evaluator=evaluator,
        train_cfg=(dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=val_interval) if iter_based
                   else dict(type="EpochBasedTrainLoop", max_epochs=plan.epochs, val_interval=val_interval)),
        val_cfg=dict(type="ValLoop"),
        optim_wrapper=dict(type="OptimWrapper", optimizer=optimizer,
                           **({"clip_grad": dict(max_norm=clip)} if clip else {})),
        param_scheduler=([dict(type="CosineAnnealingLR", by_epoch=True, T_max=plan.epochs, begin=0, end=plan.epochs)]
                         if plan.schedule == "cosine" else [dict(type="ConstantLR", factor=1.0, by_epoch=not iter_based)]),
        # Iteration-based configs (MMSeg's) say log_metric_by_epoch=False, else validations are logged at step 0.
        default_hooks=dict(logger=dict(type="LoggerHook", interval=log_interval, log_metric_by_epoch=not iter_based),
                           checkpoint=dict(type="CheckpointHook", interval=-1, save_last=False),
                           timer=dict(type="IterTimerHook"), param_scheduler=dict(type="ParamSchedulerHook")),
        custom_hooks=custom_hooks,
        visualizer=dict(type="Visualizer", vis_backends=[dict(type="LocalVisBackend")]),
        log_processor=dict(by_epoch=not iter_based, window_size=1),
        randomness=dict(seed=plan.seed, deterministic=True),
        default_scope=None,
        env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict(backend="gloo")),
        launcher="none",
        log_level="INFO",
    )
    if plan.task.kind == "heatmap":
        cfg["codec"] = dict(type="MSRAHeatmap", input_size=(common.IN_W, common.IN_H),
                            heatmap_size=(plan.task.hm_w, plan.task.hm_h), sigma=plan.task.sigma)
    return cfg


def train(name, plan, **kw):
    path = common.case_dir(name)
    plan.task.__post_init__()
    runner = Runner.from_cfg(__import__("mmengine").Config(config(name, plan, **kw)))
    runner.train()
    # No checkpoints in the corpus: MMEngine leaves a `last_checkpoint` pointer only when it saved one.
    for stray in path.glob("*.pth"):
        stray.unlink()
    MMLogger._instance_dict.clear()


def mmengine_healthy():
    train("mmengine_healthy", recipe("healthy_heatmap"))


def mmengine_collapse():
    train("mmengine_collapse", recipe("collapse_regression", lr=2e-2), debug_images=12)


def mmengine_sigma_small():
    train("mmengine_sigma_small", recipe("sigma_small"), report_peak=True)


def mmengine_frozen():
    train("mmengine_frozen", recipe("frozen_regression"), trainable_hook=True)


def mmengine_iter_overfit():
    plan = recipe("overfit_heatmap")
    train("mmengine_iter_overfit", plan, iter_based=True, max_iters=240, val_interval=8, log_interval=4)


def mmengine_sparse():
    train("mmengine_sparse", recipe("healthy_heatmap", epochs=40), val_interval=5)


def mmengine_stride_bug():
    train("mmengine_stride_bug", recipe("healthy_heatmap", epochs=20, task={"eval_bug": "stride"}), debug_images=6)


def mmengine_diverged():
    train("mmengine_diverged", recipe("diverged_heatmap"), log_interval=1, clip=None)


def mmengine_exposure():
    train("mmengine_exposure", recipe("exposure"))


CASES = {f.__name__: f for f in (mmengine_healthy, mmengine_collapse, mmengine_sigma_small, mmengine_frozen,
                                  mmengine_iter_overfit, mmengine_sparse, mmengine_stride_bug, mmengine_diverged,
                                  mmengine_exposure)}

if __name__ == "__main__":
    for name in selected(CASES):
        CASES[name]()
        print("wrote", name, flush=True)
