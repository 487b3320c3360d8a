"""The small training core every corpus generator shares, in plain PyTorch.

Data: ceph-doctor's built-in synthetic cephalograms, rendered at ORIG_W x ORIG_H ("original image",
SPACING_MM per pixel) and shrunk to IN_W x IN_H for the models, so predictions are mapped back to
original pixels the way real pipelines do (and a forgotten step of that mapping is a real bug).

Models (each has a `backbone` and a `head`, so freezing means something):
  HeatmapNet      one Gaussian heatmap per landmark at 1/stride of the input, argmax or soft-argmax decoding;
  RegressionNet   normalised [0, 1] coordinates from a flattened feature map (MSE or L1);
  SequenceNet     a GRU that emits the landmarks one after another, trained teacher-forced, validated both
                  teacher-forced and autoregressively.

A Task bundles a model kind with its targets, loss and decoding; evaluate() runs one validation and returns
every landmark's prediction in original pixels plus the usual metrics. Every fault in the corpus is made by a
real setting or a real bug here or in the tool scripts (lr, frozen parameters, sigma, label noise, a labels
array changed in place by an augmentation, an evaluation that forgets the stride ...), never by writing numbers.
"""

from __future__ import annotations

import functools
import math
import os
import random
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from ceph_doctor.data.landmarks import ISBI_2015
from ceph_doctor.data.synthetic import spacing_for_width, synthetic_split

torch.set_num_threads(int(os.environ.get("CORPUS_THREADS", "1")))

ORIG_W, ORIG_H = 128, 160  # the "original" radiograph the annotations are in
IN_W, IN_H = 64, 80  # what the models see
RESIZE = ORIG_W / IN_W  # input px -> original px
SPACING_MM = spacing_for_width(ORIG_W)  # mm per original pixel (0.1 mm at ISBI's 1935 px width)
NAMES = ISBI_2015
SHORT = ("S", "N", "Or", "Po", "A", "B", "Pog", "Me", "Gn", "Go", "LIT", "UIT", "UL", "LL", "Sn", "PogS",
         "PNS", "ANS", "Ar")
# PCK threshold: a share of the longer side of the landmarks' bounding box (MMPose's PCKAccuracy style).
PCK_SHARE = 0.05


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@functools.lru_cache(maxsize=None)
def _render(split: str, count: int, seed: int):
    data = synthetic_split(seed, split, count, ORIG_W, ORIG_H)
    # Patients are not positioned identically: each radiograph is shifted and scaled a little (fixed per image),
    # so a model has to find the landmarks, not learn one mean skull.
    rng = np.random.default_rng([seed, 7, len(split), count])
    images, landmarks = [], []
    for record in data.records:
        points = record.landmarks.astype(np.float64)
        scale = rng.uniform(0.9, 1.1)
        centre = np.array([ORIG_W / 2, ORIG_H / 2])
        moved = (points - centre) * scale + centre
        low, high = 3 - moved.min(0), (np.array([ORIG_W, ORIG_H]) - 4) - moved.max(0)
        shift = np.clip(rng.uniform(-14, 14, 2), low, high)
        matrix = np.array([[scale, 0, (1 - scale) * centre[0] + shift[0]],
                           [0, scale, (1 - scale) * centre[1] + shift[1]]])
        image = cv2.warpAffine(record.image, matrix, (ORIG_W, ORIG_H), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=int(np.median(record.image[:, :8])))
        images.append(cv2.resize(image, (IN_W, IN_H), interpolation=cv2.INTER_AREA))
        landmarks.append(moved + shift)
    return np.stack(images).astype(np.float32)[:, None] / 255.0, np.stack(landmarks).astype(np.float32)


@dataclass
class Split:
    """Images (N, 1, IN_H, IN_W) in [0, 1], landmarks (N, K, 2) x, y in original pixels."""

    images: np.ndarray
    landmarks: np.ndarray
    ids: list[str]
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ids)


def load(split: str, count: int, seed: int = 0, landmarks: list[int] | None = None,
         label_noise_px: float = 0.0, noise_seed: int = 1) -> Split:
    images, points = _render(split, count, seed)
    points = points.copy()
    names = NAMES
    if landmarks is not None:
        points = points[:, landmarks]
        names = tuple(NAMES[i] for i in landmarks)
    if label_noise_px:  # fixed annotation noise: one draw per image and landmark, the same every epoch
        rng = np.random.default_rng(noise_seed)
        points = points + rng.normal(0.0, label_noise_px, points.shape).astype(np.float32)
    ids = [f"{i:04d}" for i in range(count)]
    return Split(images.copy(), points, ids, names)


# ----------------------------------------------------------------------------------------------- models

def conv(cin: int, cout: int, stride: int = 1, dilation: int = 1, norm: bool = False) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 3, stride, dilation, dilation)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers, nn.ReLU(inplace=True))


class HeatmapNet(nn.Module):
    def __init__(self, k: int, channels: int = 24, stride: int = 2):
        super().__init__()
        c = channels
        down = [conv(1, c, 2), conv(c, c)] + ([conv(c, 2 * c, 2)] if stride == 4 else [conv(c, 2 * c)])
        self.backbone = nn.Sequential(*down, conv(2 * c, 2 * c, dilation=2), conv(2 * c, 2 * c, dilation=4),
                                      conv(2 * c, 2 * c, dilation=8))
        self.head = nn.Conv2d(2 * c, k, 1)
        self.stride = stride

    def forward(self, x):
        return self.head(self.backbone(x))


class RegressionNet(nn.Module):
    def __init__(self, k: int, channels: int = 16, hidden: int = 128, head: str = "mlp", norm: bool = True):
        super().__init__()
        c = channels
        self.backbone = nn.Sequential(conv(1, c, 2, norm=norm), conv(c, 2 * c, 2, norm=norm),
                                      conv(2 * c, 4 * c, 2, norm=norm), conv(4 * c, 4 * c, 2, norm=norm),
                                      nn.Flatten())
        features = 4 * c * 5 * 4
        if head == "mlp":
            self.head = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 2 * k))
        elif head == "pooled":  # a light head on pooled features, as put on a pretrained feature extractor
            self.head = nn.Sequential(nn.Unflatten(1, (4 * c, 5, 4)), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                                      nn.Linear(4 * c * 4, 2 * k))
        else:  # "linear": what a quick fine-tune puts on a frozen feature extractor
            self.head = nn.Linear(features, 2 * k)
        self.k = k

    def forward(self, x):
        return torch.sigmoid(self.head(self.backbone(x))).view(-1, self.k, 2)


class SequenceNet(nn.Module):
    """Emits landmark k from the image feature and landmark k-1 (the true one when teacher-forced)."""

    def __init__(self, k: int, channels: int = 8, hidden: int = 96):
        super().__init__()
        c = channels
        self.backbone = nn.Sequential(conv(1, c, 2, norm=True), conv(c, 2 * c, 2, norm=True),
                                      conv(2 * c, 4 * c, 2, norm=True), conv(4 * c, 4 * c, 2, norm=True),
                                      nn.Flatten(), nn.Linear(4 * c * 20, hidden), nn.ReLU(inplace=True))
        self.head = SequenceHead(k, hidden, hidden)
        self.k = k

    def forward(self, x, teacher: torch.Tensor | None = None):
        return self.head(self.backbone(x), teacher)


class SequenceHead(nn.Module):
    def __init__(self, k: int, features: int, hidden: int):
        super().__init__()
        self.init = nn.Linear(features, hidden)
        self.embed = nn.Embedding(k, 8)
        self.cell = nn.GRUCell(2 + 8 + features, hidden)
        self.out = nn.Linear(hidden, 2)
        self.start = nn.Parameter(torch.full((2,), 0.5))
        self.k = k

    def forward(self, feature, teacher=None):
        h = torch.tanh(self.init(feature))
        prev = self.start.expand(len(feature), 2)
        outputs = []
        for i in range(self.k):
            token = self.embed.weight[i].expand(len(feature), -1)
            h = self.cell(torch.cat([prev, token, feature], 1), h)
            point = prev + self.out(h)  # each point is an offset from the previous one
            outputs.append(point)
            prev = teacher[:, i] if teacher is not None else point
        return torch.stack(outputs, 1)


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


def freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


def module_grad_norms(model: nn.Module) -> dict[str, float]:
    norms = {}
    for name, child in model.named_children():
        grads = [p.grad.detach().pow(2).sum() for p in child.parameters() if p.grad is not None]
        norms[name] = float(torch.stack(grads).sum().sqrt()) if grads else 0.0
    grads = [p.grad.detach().pow(2).sum() for p in model.parameters() if p.grad is not None]
    norms["total"] = float(torch.stack(grads).sum().sqrt()) if grads else 0.0
    return norms


# ------------------------------------------------------------------------------------------------ tasks

@dataclass
class Task:
    """Targets, loss and decoding for one model kind.

    eval_bug: None, or a real bug in mapping predictions back to original pixels:
      "stride"      heatmap coordinates not multiplied by the heatmap stride;
      "swap"        x and y exchanged when reading the decoded array;
      "normalised"  regression outputs in [0, 1] compared with pixel truth;
      "shuffled"    the validation images go through the model in a shuffled order (a shuffled val loader)
                    but are compared with the annotations in file order.
    """

    kind: str = "heatmap"  # heatmap | regression | sequence
    k: int = 19
    stride: int = 2
    sigma: float = 1.5
    decode: str = "argmax"  # argmax | soft
    loss: str = "mse"
    eval_bug: str | None = None
    channels: int | None = None
    head: str = "mlp"
    norm: bool = True
    hidden: int = 128
    hm_w: int = field(init=False)
    hm_h: int = field(init=False)

    def __post_init__(self):
        self.hm_w, self.hm_h = IN_W // self.stride, IN_H // self.stride

    def build(self) -> nn.Module:
        if self.kind == "heatmap":
            return HeatmapNet(self.k, self.channels or 24, self.stride)
        if self.kind == "regression":
            return RegressionNet(self.k, self.channels or 16, hidden=self.hidden, head=self.head, norm=self.norm)
        return SequenceNet(self.k, self.channels or 8)

    # targets ---------------------------------------------------------------------------------------
    def target(self, points_orig: np.ndarray) -> torch.Tensor:
        """(K, 2) original px -> the training target of one image."""
        if self.kind == "heatmap":
            u = points_orig / RESIZE / self.stride  # heatmap coordinates (pixel centres at integers)
            xs = np.arange(self.hm_w, dtype=np.float32)[None, None, :]
            ys = np.arange(self.hm_h, dtype=np.float32)[None, :, None]
            d2 = (xs - u[:, 0, None, None]) ** 2 + (ys - u[:, 1, None, None]) ** 2
            return torch.from_numpy(np.exp(-d2 / (2 * self.sigma ** 2)).astype(np.float32))
        return torch.from_numpy((points_orig / np.array([ORIG_W, ORIG_H], np.float32)).astype(np.float32))

    def targets(self, points: np.ndarray) -> torch.Tensor:
        return torch.stack([self.target(p) for p in points])

    # loss ------------------------------------------------------------------------------------------
    def criterion(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.loss == "l1":
            return nn.functional.l1_loss(output, target)
        return nn.functional.mse_loss(output, target)

    def forward_loss(self, model: nn.Module, images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.kind == "sequence":
            return self.criterion(model(images, teacher=target), target)
        return self.criterion(model(images), target)

    # decoding --------------------------------------------------------------------------------------
    def decode_heatmaps(self, heatmaps: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """-> coordinates in heatmap px (N, K, 2), peak values (N, K)."""
        n, k, h, w = heatmaps.shape
        flat = heatmaps.reshape(n, k, -1)
        peak, index = flat.max(-1)
        if self.decode == "soft":
            prob = torch.softmax(flat * 20.0, -1).view(n, k, h, w)
            xs = (prob.sum(2) * torch.arange(w)).sum(-1)
            ys = (prob.sum(3) * torch.arange(h)).sum(-1)
            coords = torch.stack([xs, ys], -1)
        else:  # argmax plus the quarter-pixel shift toward the higher neighbour (the HRNet decoding)
            x, y = (index % w).float(), (index // w).float()
            coords = torch.stack([x, y], -1)
            xi, yi = x.long(), y.long()
            pad = nn.functional.pad(heatmaps, (1, 1, 1, 1), value=float("-inf"))
            bi = torch.arange(n)[:, None].expand(n, k)
            ki = torch.arange(k)[None, :].expand(n, k)
            dx = pad[bi, ki, yi + 1, xi + 2] - pad[bi, ki, yi + 1, xi]
            dy = pad[bi, ki, yi + 2, xi + 1] - pad[bi, ki, yi, xi + 1]
            shift = torch.stack([torch.sign(torch.nan_to_num(dx)), torch.sign(torch.nan_to_num(dy))], -1)
            coords = coords + 0.25 * shift
        return coords.numpy(), peak.numpy()

    @torch.no_grad()
    def predict(self, model: nn.Module, images: torch.Tensor, teacher: torch.Tensor | None = None) -> dict:
        was_training = model.training
        model.eval()
        out = {}
        if self.kind == "heatmap":
            heatmaps = model(images)
            coords, peak = self.decode_heatmaps(heatmaps)
            out["raw"] = heatmaps
            out["peak"] = peak
            if self.eval_bug == "stride":  # the bug: heatmap px taken for input px
                pred = coords * RESIZE
            else:
                pred = coords * self.stride * RESIZE
        else:
            raw = model(images, teacher=teacher) if self.kind == "sequence" else model(images)
            out["raw"] = raw
            norm = raw.numpy()
            pred = norm if self.eval_bug == "normalised" else norm * np.array([ORIG_W, ORIG_H], np.float32)
        if self.eval_bug == "swap":
            pred = pred[..., ::-1]
        out["pred"] = np.ascontiguousarray(pred, dtype=np.float64)
        model.train(was_training)
        return out


def landmark_metrics(pred: np.ndarray, gt: np.ndarray) -> dict:
    err = np.linalg.norm(pred - gt, axis=-1)  # (N, K) px
    extent = (gt.max(1) - gt.min(1)).max(-1)  # (N,) longer side of the landmarks' box
    mm = err * SPACING_MM
    return {
        "err": err,
        "mre_px": float(np.nanmean(err)),
        "mre_mm": float(np.nanmean(mm)),
        "sdr_2mm": float(np.mean(mm <= 2.0)),
        "sdr_2.5mm": float(np.mean(mm <= 2.5)),
        "sdr_3mm": float(np.mean(mm <= 3.0)),
        "sdr_4mm": float(np.mean(mm <= 4.0)),
        "sdr_8mm": float(np.mean(mm <= 8.0)),
        "pck": float(np.mean(err <= PCK_SHARE * extent[:, None])),
        "nme": float(np.nanmean(err) / ORIG_W),
        "per_landmark_px": np.nanmean(err, 0),
    }


@torch.no_grad()
def evaluate(task: Task, model: nn.Module, split: Split, batch_size: int = 64) -> dict:
    """One validation: loss, predictions in original px, metrics; sequence models both ways."""
    images = torch.from_numpy(split.images)
    target = task.targets(split.landmarks)
    if task.eval_bug == "shuffled":  # the loader shuffles; the loss still pairs each image with its own target
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(1234))  # a fresh seeded loader
        images, target = images[order], target[order]
    result: dict = {}
    was_training = model.training
    model.eval()
    if task.kind == "sequence":
        tf = task.predict(model, images, teacher=target)
        ar = task.predict(model, images)
        result["loss_tf"] = float(task.criterion(tf["raw"], target))
        result["loss_ar"] = float(task.criterion(ar["raw"], target))
        result["loss"] = result["loss_tf"]
        out = ar
        result["pred_tf"] = tf["pred"]
        tf_err = np.linalg.norm(tf["pred"] - split.landmarks, axis=-1)
        result["mre_tf_px"] = float(tf_err.mean())
    else:
        out = task.predict(model, images)
        result["loss"] = float(task.criterion(out["raw"], target))
    model.train(was_training)
    result["pred"] = out["pred"]
    result["gt"] = split.landmarks.astype(np.float64)
    if "peak" in out:
        result["peak"] = out["peak"]
        result["hm_max"] = float(np.median(out["peak"]))
        result["hm_max_mean"] = float(np.mean(out["peak"]))
    result.update(landmark_metrics(out["pred"], split.landmarks))
    result["spread_ratio"] = spread_ratio(out["pred"], split.landmarks)
    return result


def spread_ratio(pred: np.ndarray, gt: np.ndarray) -> float:
    """Median over landmarks of the predictions' spread across images over the truth's."""
    p = np.sqrt(pred.var(0).sum(-1))
    t = np.sqrt(gt.var(0).sum(-1))
    return float(np.median(p / np.where(t > 0, t, np.nan)))


# --------------------------------------------------------------------------------------------- datasets

class LandmarkDataset(torch.utils.data.Dataset):
    """image, target (heatmaps or normalised coordinates), index.

    inplace_drift: {"landmarks": [i, j, ...], "bias": (dx, dy), "jitter": px} reproduces a real augmentation
    bug: the jitter is added to `self.split.landmarks[i]`, a view of the cached annotations, instead of a copy,
    so those landmarks' training labels walk further off every epoch.
    """

    def __init__(self, split: Split, task: Task, inplace_drift: dict | None = None, seed: int = 0):
        self.split, self.task = split, task
        self.drift = inplace_drift
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.split)

    def __getitem__(self, i):
        points = self.split.landmarks[i]  # a view: fine as long as nothing writes to it ...
        if self.drift:
            which = self.drift["landmarks"]
            jitter = self.rng.normal(0.0, self.drift.get("jitter", 0.5), (len(which), 2))
            points[which] += np.asarray(self.drift["bias"], np.float32) + jitter.astype(np.float32)  # ... the bug
        return {"image": torch.from_numpy(self.split.images[i]), "target": self.task.target(points),
                "index": i}


def loader(dataset, batch_size: int, shuffle: bool = True, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                                       num_workers=0)


# ------------------------------------------------------------------------------------- the plain loop

@dataclass
class Plan:
    """One plain-PyTorch training: what the tools' own loops take from their configs instead."""

    task: Task = field(default_factory=Task)
    n_train: int = 48
    n_val: int = 12
    landmarks: list[int] | None = None
    label_noise_px: float = 0.0
    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-3
    optimizer: str = "adam"  # adam | sgd | adamw
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str | None = None  # None | cosine | step
    warmup_steps: int = 0
    grad_clip: float | None = None
    freeze_backbone: bool = False
    val_interval: int = 1
    log_every: int = 2
    seed: int = 0
    data_seed: int = 0
    inplace_drift: dict | None = None
    val_on_train: bool = False  # the single-image sanity test: validate on the training images themselves


def make_optimizer(plan: Plan, params):
    params = [p for p in params if p.requires_grad]
    if plan.optimizer == "sgd":
        return torch.optim.SGD(params, lr=plan.lr, momentum=plan.momentum, weight_decay=plan.weight_decay)
    if plan.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=plan.lr, weight_decay=plan.weight_decay)
    return torch.optim.Adam(params, lr=plan.lr, weight_decay=plan.weight_decay)


def lr_at(plan: Plan, step: int, total: int) -> float:
    scale = 1.0
    if plan.warmup_steps and step < plan.warmup_steps:
        scale = (step + 1) / plan.warmup_steps
    if plan.schedule == "cosine":
        scale *= 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    elif plan.schedule == "step":
        scale *= 0.1 ** (step // max(1, int(total * 0.7)))
    return plan.lr * scale


def data_for(plan: Plan) -> tuple[Split, Split]:
    train = load("train", plan.n_train, plan.data_seed, plan.landmarks, plan.label_noise_px)
    if plan.val_on_train:
        return train, load("train", plan.n_train, plan.data_seed, plan.landmarks, plan.label_noise_px)
    val = load("val", plan.n_val, plan.data_seed, plan.landmarks)
    return train, val


class PlainLoop:
    """A hand-written loop with hooks: on_start(loop), on_step(loop, step, epoch, loss, lr, grads),
    on_epoch_end(loop, epoch, train_loss), on_validation(loop, epoch, step, result), on_end(loop)."""

    def __init__(self, plan: Plan, hooks):
        self.plan, self.hooks = plan, hooks
        seed_everything(plan.seed)
        self.train, self.val = data_for(plan)
        plan.task.k = len(self.train.names)
        plan.task.__post_init__()
        self.task = plan.task
        self.model = self.task.build()
        if plan.freeze_backbone:
            freeze(self.model.backbone)
        self.optimizer = make_optimizer(plan, self.model.parameters())
        self.dataset = LandmarkDataset(self.train, self.task, plan.inplace_drift, plan.seed)
        self.loader = loader(self.dataset, plan.batch_size, True, plan.seed)
        self.steps_per_epoch = len(self.loader)
        self.total_steps = self.steps_per_epoch * plan.epochs
        self.trainable, self.total = parameter_counts(self.model)

    def call(self, name, **kwargs):
        for hook in self.hooks:
            fn = getattr(hook, name, None)
            if fn:
                fn(self, **kwargs)

    def run(self, first_epoch: int = 1, last_epoch: int | None = None):
        plan = self.plan
        last_epoch = last_epoch or plan.epochs
        step = (first_epoch - 1) * self.steps_per_epoch
        self.call("on_start")
        for epoch in range(first_epoch, last_epoch + 1):
            losses = []
            for batch in self.loader:
                lr = lr_at(plan, step, self.total_steps)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                loss = self.task.forward_loss(self.model, batch["image"], batch["target"])
                self.optimizer.zero_grad()
                loss.backward()
                grads = module_grad_norms(self.model)
                if plan.grad_clip:
                    nn.utils.clip_grad_norm_(self.model.parameters(), plan.grad_clip)
                self.optimizer.step()
                step += 1
                losses.append(float(loss.detach()))
                if step % plan.log_every == 0:
                    self.call("on_step", step=step, epoch=epoch, loss=float(loss.detach()), lr=lr, grads=grads)
            train_loss = float(np.mean(losses))
            self.call("on_epoch_end", epoch=epoch, train_loss=train_loss, step=step)
            if epoch % plan.val_interval == 0 or epoch == plan.epochs:
                result = evaluate(self.task, self.model, self.val)
                result["train_loss"] = train_loss
                self.call("on_validation", epoch=epoch, step=step, result=result)
        self.call("on_end")
        return self


def fmt_point(p) -> str:
    return f"({p[0]:.1f}, {p[1]:.1f})"


# ------------------------------------------------------------------------------------------- recipes
# The settings each fault comes from, shared by the tools (each tool's script maps them onto its own config).

def recipe(name: str, **overrides) -> Plan:
    heat = dict(kind="heatmap", sigma=2.0)
    plans = {
        # lr 3e-3, 64 images, 30 epochs: converges to ~2 px.
        "healthy_heatmap": dict(task=Task(**heat), n_train=48, epochs=30, lr=3e-3, schedule="cosine"),
        "healthy_regression": dict(task=Task(kind="regression"), n_train=48, epochs=30, lr=3e-3, schedule="cosine"),
        # Adam at 3e-2 with no warmup: the first steps blow the weights up, the net then answers one point.
        "collapse_heatmap": dict(task=Task(**heat), n_train=48, epochs=15, lr=3e-2),
        # Adam at 1e-2, batch 4, no normalisation layers: the ReLUs die in the first epoch and the head answers
        # the mean skull for every image.
        "collapse_regression": dict(task=Task(kind="regression", norm=False), n_train=48, batch_size=4, epochs=20,
                                    lr=1e-2),
        # SGD at lr 50 (momentum 0.9): the loss explodes within an epoch, then NaN.
        "diverged_heatmap": dict(task=Task(**heat), n_train=32, epochs=6, lr=50.0, optimizer="sgd"),
        # 6 training images with 6 px annotation noise, 120 epochs, no augmentation.
        "overfit_heatmap": dict(task=Task(kind="heatmap", sigma=2.0, channels=32), n_train=6, batch_size=3,
                                label_noise_px=6.0, epochs=120, lr=3e-3),
        # A frozen, randomly initialised backbone under a 1x1-conv head: 1% of the weights train.
        "frozen_heatmap": dict(task=Task(**heat), n_train=48, epochs=25, lr=3e-3, freeze_backbone=True),
        # A frozen, randomly initialised backbone under a linear head on pooled features: 7% of the weights train.
        "frozen_regression": dict(task=Task(kind="regression", channels=32, head="pooled"), n_train=48, epochs=25,
                                  lr=3e-3, freeze_backbone=True),
        # sigma 0.3 heatmap px: the targets are single pixels.
        "sigma_small": dict(task=Task(kind="heatmap", sigma=0.3), n_train=48, epochs=25, lr=3e-3),
        # A GRU decoder trained teacher-forced only.
        "exposure": dict(task=Task(kind="sequence", channels=16), n_train=48, epochs=30, lr=2e-3),
        "underfit_heatmap": dict(task=Task(**heat), n_train=48, epochs=15, lr=1e-7),
        # Adam at 3e-2 with no warmup, logged every step: the loss explodes, falls, jumps up again and again.
        "spiky_heatmap": dict(task=Task(**heat), n_train=48, epochs=15, lr=3e-2, log_every=1),
        # The single-image sanity test of a sequence decoder (USERS.md, situation 3): train and validate on one
        # image, teacher-forced training, validation both ways.
        "single_image_seq": dict(task=Task(kind="sequence", channels=8), n_train=1, batch_size=1, epochs=100, lr=2e-3,
                                 val_on_train=True),
        # Annotation cache changed in place by the jitter augmentation, for three soft-tissue landmarks.
        "drift_heatmap": dict(task=Task(**heat), n_train=48, epochs=30, lr=3e-3,
                              inplace_drift={"landmarks": [12, 13, 15], "bias": (0.12, 0.05), "jitter": 0.3}),
        # A wide MLP head memorising 12 noisy images: validation flat from ~epoch 20 while the training loss falls.
        "plateau_regression": dict(task=Task(kind="regression", hidden=512), n_train=12, batch_size=4,
                                   label_noise_px=5.0, epochs=40, lr=2e-3),
        # The healthy regression run, but its metric pairs shuffled predictions with file-order annotations.
        "shuffled_metric": dict(task=Task(kind="regression", eval_bug="shuffled"), n_train=48, n_val=16, epochs=30, lr=3e-3,
                                schedule="cosine"),
    }
    kwargs = dict(plans[name])
    task_overrides = overrides.pop("task", None)
    kwargs.update(overrides)
    if task_overrides:
        base = kwargs["task"]
        kwargs["task"] = Task(**{**{f: getattr(base, f) for f in ("kind", "k", "stride", "sigma", "decode", "loss",
                                                               "eval_bug", "channels", "head", "norm", "hidden")},
                                 **task_overrides})
    else:
        kwargs["task"] = Task(**{f: getattr(kwargs["task"], f) for f in (
            "kind", "k", "stride", "sigma", "decode", "loss", "eval_bug", "channels", "head", "norm", "hidden")})
    return Plan(**kwargs)


# --------------------------------------------------------------------------- per-landmark debug prints

def debug_block(result: dict, ids: list[str], names: tuple[str, ...], style: str, images: int | None = None,
                landmarks: list[int] | None = None) -> list[str]:
    """The per-image, per-landmark pred/gt lines people print while debugging, in a few shapes."""
    lines = []
    pred, gt = result["pred"], result["gt"]
    n = len(ids) if images is None else min(images, len(ids))
    which = range(pred.shape[1]) if landmarks is None else landmarks
    for i in range(n):
        if style == "kpt":
            lines.append(f"image {ids[i]}.png")
        elif style == "name":
            lines.append(f"Image: {int(ids[i])}")
        elif style == "imgid":
            lines.append(f"img_id={int(ids[i])}")
        for k in which:
            p, g = pred[i, k], gt[i, k]
            err = float(np.linalg.norm(p - g))
            if style == "kpt":
                lines.append(f"  kpt {k}: pred={fmt_point(p)} gt={fmt_point(g)} err={err:.1f}")
            elif style == "name":
                lines.append(f"  {names[k]}: pred={fmt_point(p)} gt={fmt_point(g)} dist={err:.2f}")
            else:
                lines.append(f"    [{k:02d}] pred={fmt_point(p)} gt={fmt_point(g)}")
    return lines


# ------------------------------------------------------------------------------------------- output

CORPUS = Path(__file__).resolve().parents[1]
CASES = CORPUS / "cases"


def case_dir(name: str) -> Path:
    """A fresh, empty folder for one case."""
    path = CASES / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def selected(names) -> list[str]:
    """Cases named on the command line (all when none), e.g. `python with_prints.py prints_collapse`."""
    wanted = sys.argv[1:]
    return [n for n in names if not wanted or n in wanted]


class Tee:
    """Write what a script prints to stdout into a file too, the way `python train.py | tee train.out` does."""

    def __init__(self, path: Path, mode: str = "w"):
        self.file = open(path, mode)
        self.stdout = sys.stdout

    def write(self, text):
        self.file.write(text)
        return len(text)

    def flush(self):
        self.file.flush()

    def isatty(self):
        return False

    def __enter__(self):
        sys.stdout = self
        return self

    def __exit__(self, *exc):
        sys.stdout = self.stdout
        self.file.close()
