"""The words metric names are made of, and what each says: split, quantity, unit, decode, aggregation.

Phrases are matched longest first ("mean radial error" before "error"); a spelling added here is
understood in every name that uses it (`store.meaning` reads names with this table).
"""

from __future__ import annotations

import re

# Phrases (tuples of words) → (role, value). Longest match wins; single words are 1-tuples.
PHRASES: dict[tuple[str, ...], tuple[str, str]] = {}


def _add(role: str, value: str, *spellings: str) -> None:
    for spelling in spellings:
        PHRASES[tuple(spelling.split())] = (role, value)


_add("split", "train", "train", "training", "trn")
_add("split", "val", "val", "valid", "validation", "eval", "evaluation", "dev")
_add("split", "test", "test", "testing")
_add("aggregation", "step", "step", "steps", "iter", "batch", "on step")
_add("aggregation", "epoch", "epoch", "epochs", "on epoch")
_add("aggregation", "best", "best", "best so far", "max so far", "min so far")
_add("unit", "mm", "mm", "millimeter", "millimeters", "millimetre", "millimetres", "in mm")
_add("unit", "px", "px", "pix", "pixel", "pixels", "in px")
_add("unit", "norm", "norm", "normalized", "normalised", "rel", "relative")
_add("unit", "%", "%", "pct", "percent", "percentage")
_add("decode", "tf", "tf", "teacher", "teacher forced", "teacher forcing", "teacherforced", "forced", "tforced")
_add("decode", "ar", "ar", "autoregressive", "autoreg", "auto regressive", "free", "free running", "freerun",
     "greedy", "generated", "generation", "inference")
_add("quantity", "loss", "loss", "losses", "cost", "objective", "nll", "total loss")
_add("quantity", "mre", "mre", "mred", "med", "mean radial error", "radial error", "mean error", "mean distance",
     "mean dist", "euclidean error", "euclidean distance", "localization error", "localisation error",
     "landmark error", "mean euclidean distance")
_add("quantity", "error", "error", "err", "dist", "distance", "errors")
_add("quantity", "epe", "epe", "end point error", "endpoint error", "end-point error")
_add("quantity", "nme", "nme", "normalized mean error", "normalised mean error", "nmse")
_add("quantity", "mae", "mae", "l1", "mean absolute error", "abs error")
_add("quantity", "mse", "mse", "l2", "mean squared error")
_add("quantity", "rmse", "rmse", "root mean squared error")
_add("quantity", "sd", "sd", "std", "stdev")
_add("quantity", "pck", "pck", "pckh", "pckaccuracy", "pck accuracy", "percentage of correct keypoints")
_add("quantity", "auc", "auc")
_add("quantity", "ap", "ap", "map", "average precision", "mean average precision")
_add("quantity", "ar", "mar", "average recall", "mean average recall")
_add("quantity", "sdr", "sdr", "success detection rate", "success rate")
_add("quantity", "acc", "acc", "accuracy", "top1", "top5", "top-1")
_add("quantity", "f1", "f1", "fscore", "f1score", "f1 score", "f score", "f measure")
_add("quantity", "iou", "iou", "miou", "jaccard", "aiou")
_add("quantity", "dice", "dice", "dsc")
_add("quantity", "precision", "precision", "prec")
_add("quantity", "recall", "recall", "rec", "sensitivity")
_add("quantity", "fitness", "fitness")
_add("quantity", "lr", "lr", "learning rate", "learningrate", "lr0")
_add("quantity", "grad_norm", "grad norm", "gradient norm", "gnorm", "grad norm total", "gradnorm", "grad l2 norm",
     "total norm", "norm of gradients")
_add("quantity", "update_ratio", "update ratio", "update to weight", "update weight ratio", "update/weight")
_add("quantity", "trainable_frac", "trainable frac", "trainable fraction", "frac trainable", "fraction trainable",
     "trainable ratio", "trainable share", "trainable pct", "pct trainable", "trainable percent",
     "percent trainable", "trainable params frac", "trainable params fraction", "trainable params pct",
     "trainable params ratio", "trainable parameters fraction", "trainable parameters ratio", "trainable %",
     "trainable params %", "% trainable")
_add("quantity", "trainable_count", "trainable params", "trainable parameters", "num trainable",
     "n trainable", "trainable")
_add("quantity", "total_count", "total params", "total parameters", "num params", "n params", "num parameters",
     "all params", "all parameters")
_add("quantity", "frozen_count", "non trainable", "non trainable params", "non trainable parameters", "nontrainable",
     "frozen params", "frozen parameters", "num frozen")
_add("quantity", "heatmap_peak", "heatmap max", "hm max", "heatmap peak", "hm peak", "heat max", "heatmap maxval",
     "maxval", "maxvals", "max heatmap", "max hm", "peak value", "heatmap maximum", "max heatmap val",
     "max heatmap value", "heatmap peak value", "peak", "hm maxval", "pred peak")
_add("quantity", "sigma", "sigma", "heatmap sigma", "target sigma", "gaussian sigma")
_add("quantity", "teacher_forcing", "teacher forcing ratio", "teacher forcing prob", "teacher forcing probability",
     "tf ratio", "tf prob", "sampling prob", "sampling probability", "teacher ratio")
_add("quantity", "throughput", "throughput", "images per s", "imgs per s", "samples per second", "img s",
     "images per second", "it s", "samples per sec")
_add("quantity", "time", "time", "runtime", "eta", "duration", "train runtime",
     "eval runtime", "steps per second", "elapsed")
# The seconds of one training step, and the part of them spent waiting for the batch (MMEngine's `time` and
# `data_time`, the `batch_time`/`data_time` meters of the PyTorch examples): their share says data-bound.
_add("quantity", "step_time", "iter time", "iteration time", "batch time", "step time")
_add("quantity", "data_time", "data time", "data loading time", "dataloader time", "data load time", "load time",
     "data wait", "data wait time")
_add("quantity", "data_wait_share", "data wait share", "data wait fraction", "data time share", "data time fraction",
     "data share", "data fraction", "data wait ratio", "data time ratio")
_add("quantity", "memory", "memory", "mem", "gpu mem", "max memory", "memory allocated")
_add("quantity", "count", "flos", "total flos", "num samples", "v num", "num", "samples")
_add("quantity", "scale", "loss scale", "grad scale", "scaler")
# Words that say nothing about the quantity: namespaces and "the" in "the mean of".
NOISE = {"metrics", "metric", "avg", "average", "mean", "running", "overall", "all", "value", "score",
          "summary", "total", "of", "the", "per", "scalar", "scalars", "global", "my", "model", "final", "optim",
          "optimizer", "opt", "perf", "params", "param", "parameters", "group"}
MAX_PHRASE = max(len(phrase) for phrase in PHRASES)
SPLIT_SPELLINGS = {value: [" ".join(phrase) for phrase, (kind, v) in PHRASES.items() if kind == "split" and v == value]
                   for value in ("train", "val", "test")}
# Letters then digits that stay one word ("f1", "top5", "pg0", "l1"); any other word+number is split.
KEEP_WITH_DIGITS = re.compile(r"(f|top|pg|l|lr|v|c|p|stage|layer|block|conv|fc|res)\d+")
QUALIFIERS = {"p": "pose", "b": "box", "m": "mask", "k": "kpt", "kp": "kpt", "kpts": "kpt", "keypoint": "kpt",
              "keypoints": "kpt", "landmark": "kpt", "landmarks": "kpt", "lm": "kpt"}
