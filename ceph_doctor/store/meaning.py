"""What a logged name means, read from its parts: the one grammar every reader of a name uses.

`parse("val_coords_loss_ar")` → split val, quantity loss, part coords, decode ar; `parse("metrics/mAP50-95(P)")`
→ quantity ap, threshold 50-95, subject pose; `parse("MRE (mm)")` → quantity mre, unit mm. A name is cut into
words (separators, camelCase, letters against digits), phrases are matched longest first ("mean radial error",
"learning rate", "teacher forced"), and each word is placed as one of: split, quantity, unit, decode,
aggregation, threshold, or subject (what is left: loss parts, qualifiers such as pose/box/kpt). No alias list of
whole names: a new spelling of known words is understood without a change here.

`tag(meaning, split)` builds the canonical tag the signals read (`val/mre_mm`, `train/loss`, `val/loss_ar`,
`optim/lr`…), or keeps the logged name under its split for quantities the signals do not read by name
(`val/metrics/mAP50-95(P)`): the monitor still knows what it is by parsing it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ceph_doctor.store.vocabulary import KEEP_WITH_DIGITS, MAX_PHRASE, NOISE, PHRASES, QUALIFIERS, SPLIT_SPELLINGS

# Which way each quantity improves; quantities absent here are not metrics (lr, time, grad norm…).
DIRECTIONS = {
    "loss": "min", "mre": "min", "epe": "min", "nme": "min", "mae": "min", "mse": "min", "rmse": "min",
    "sd": "min", "error": "min",
    "pck": "max", "auc": "max", "ap": "max", "ar": "max", "sdr": "max", "acc": "max", "f1": "max",
    "iou": "max", "dice": "max", "precision": "max", "recall": "max", "fitness": "max",
}
# Scores on a fixed scale (0-1, or 0-100 as percentages): a change is measured against the scale, so a
# PCK stuck near 0 does not "worsen by 100 %" when it moves from 0.02 to 0.
BOUNDED = {"pck", "auc", "ap", "ar", "sdr", "acc", "f1", "iou", "dice", "precision", "recall"}
@dataclass(frozen=True)
class Meaning:
    name: str  # as logged
    split: str | None = None  # train | val | test; None when the name does not say
    quantity: str | None = None  # a metric (a key of DIRECTIONS), another known quantity (lr, grad_norm,
    # heatmap_peak, trainable_frac, time…: never judged as a metric), or None: not understood
    unit: str | None = None  # px | mm | norm | % | None
    decode: str | None = None  # tf | ar | None: teacher-forced or autoregressive sequence decoding
    aggregation: str | None = None  # step | epoch | None
    threshold: str | None = None  # "0.05", "2", "50-95" …: the number in pck@0.05, sdr_2mm, mAP50-95
    subject: tuple[str, ...] = ()  # every other word: loss parts, qualifiers (pose, box, kpt), modules

    @property
    def direction(self) -> str | None:
        """'min' or 'max' for a metric, None for anything else."""
        return DIRECTIONS.get(self.quantity or "")

    @property
    def is_metric(self) -> bool:
        return self.direction is not None

    def describe(self) -> str:
        """`val · mre · mm · lower is better`: what the name was understood as, for the names table."""
        if self.quantity is None:
            return "not understood"
        parts = [self.split or "(split not said)", self.quantity]
        parts += [f"@{self.threshold}"] if self.threshold else []
        parts += [self.unit] if self.unit else []
        parts += [{"tf": "teacher-forced", "ar": "autoregressive"}[self.decode]] if self.decode else []
        parts += [f"per {self.aggregation}"] if self.aggregation else []
        parts += [f"({' '.join(self.subject)})"] if self.subject else []
        if self.direction:
            parts.append("lower is better" if self.direction == "min" else "higher is better")
        return " · ".join(parts)


def words(name: str) -> list[str]:
    """The words of a name, lower-cased: `valMeanRadialError` → val mean radial error; `SDR2.5mm` → sdr 2.5 mm;
    `metrics/mAP50-95(P)` → metrics map 50-95 p; `pck@0.05` → pck @0.05."""
    # mAP, mIoU, mAcc: "mean" written as a lower-case m before an acronym.
    text = re.sub(r"(?<![A-Za-z])m(AP|AR|IoU|Acc|Dice|F1)", r" \1 ", name).replace("IoU", " iou ")
    text = re.sub(r"\((\w{1,2})\)", r" \1 ", text)  # Ultralytics' (B) / (P) qualifiers
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)  # camelCase
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)  # HTTPServer → HTTP Server
    text = text.lower()
    out: list[str] = []
    # A word is an @number, a number (with a decimal point or a range), a %, or letters with trailing digits.
    for token in re.findall(r"@\s*\d*\.?\d+|\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?|%|[a-z]+\d*", text):
        match = re.fullmatch(r"([a-z]+)(\d+)", token)
        if match and not KEEP_WITH_DIGITS.fullmatch(token):
            out.extend(match.groups())
        else:
            out.append(token.replace(" ", ""))
    return out


@functools.lru_cache(maxsize=65536)
def parse(name: str) -> Meaning:
    """The meaning of one logged name (cached: the same names recur in every run of a tool)."""
    found = words(name)
    placed: dict[str, str] = {}
    subject: list[str] = []
    numbers: list[str] = []
    index = 0
    while index < len(found):
        for length in range(min(MAX_PHRASE, len(found) - index), 0, -1):
            phrase = tuple(found[index:index + length])
            role = PHRASES.get(phrase)
            if role is None:
                continue
            kind, value = role
            if kind in placed and kind != "quantity":
                subject.append(" ".join(phrase))  # a second split/unit word: keep it, do not overwrite
            elif kind == "quantity" and "quantity" in placed:
                _second_quantity(placed, value, phrase, subject)
            else:
                placed[kind] = value
            index += length
            break
        else:
            word = found[index]
            if word.startswith("@") or re.fullmatch(r"\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?", word):
                numbers.append(word.lstrip("@").strip())
            elif word not in NOISE:
                subject.append(QUALIFIERS.get(word, word))
            index += 1
    quantity = placed.get("quantity")
    decode = placed.get("decode")
    # "ar"/"tf" are a decode only beside another quantity (val_loss_ar); alone, AR is average recall.
    if decode == "ar" and quantity is None and "ar" in found:
        quantity, decode = "ar", None
    if decode == "tf" and quantity is None:  # `teacher_forcing` alone: the probability of it
        quantity, decode = "teacher_forcing", None
    # A generic "error" with a length unit is a radial error (val_mm_error, error_px).
    if quantity == "error" and placed.get("unit") in ("mm", "px"):
        quantity = "mre"
    if quantity is None and not subject and placed.get("aggregation") in ("step", "epoch"):
        quantity = placed["aggregation"]  # `epoch`, `global_step`, `iter`: the axis itself
    unit = placed.get("unit")
    if quantity == "sdr" and numbers and unit is None:
        unit = "mm"
    with_threshold = numbers and quantity in ("pck", "sdr", "ap", "ar", "auc", "acc", "iou", "f1")
    threshold = numbers[0] if with_threshold else None
    subject += numbers[1:] if with_threshold else numbers
    if threshold and quantity == "pck" and re.fullmatch(r"0\d+", threshold):
        threshold = "0." + threshold[1:]  # valPCK005 → pck@0.05
    return Meaning(name=name, split=placed.get("split"), quantity=quantity, unit=unit, decode=decode,
                   aggregation=placed.get("aggregation"), threshold=threshold, subject=tuple(subject))


def _second_quantity(placed: dict[str, str], value: str, phrase: tuple[str, ...], subject: list[str]) -> None:
    """Two quantity words in one name: the one that says more wins, the other becomes a subject word.
    `mse_loss` is a loss (part mse); `loss_ce` a loss (part ce); `pck_error`? the metric over the generic word."""
    first = placed["quantity"]
    if first == "loss" or value == "loss":
        placed["quantity"] = "loss"
        subject.append(" ".join(phrase) if value != "loss" else first)
    elif first == "error" and value != "error":
        placed["quantity"] = value
        subject.append(first)
    else:
        subject.append(" ".join(phrase))


def direction(name: str) -> str | None:
    """'min', 'max' or None for any spelling of a metric name."""
    return parse(name).direction


# ------------------------------------------------------------------------------------- canonical tags


def tag(meaning: Meaning, split: str | None) -> str | None:
    """The tag a logged name is stored under, given the split it belongs to; None for what is not a
    scalar of the run at all (wall time, memory, an epoch counter)."""
    quantity = meaning.quantity
    rest = _rest(meaning.name, meaning.split)
    if quantity in ("time", "memory", "epoch", "step", "count", "scale"):
        return None
    if quantity == "lr":
        return "optim/lr" + _module_suffix(meaning, drop=("pg0", "group0", "adam", "adamw", "sgd"))
    if quantity == "grad_norm":
        return "grad/norm" + _module_suffix(meaning)
    if quantity == "update_ratio":
        return "update_ratio/" + ("_".join(meaning.subject) or "all")
    if quantity == "trainable_frac":
        return "params/trainable_frac"
    if quantity in ("trainable_count", "total_count", "frozen_count"):
        return f"params/{quantity}"
    if quantity == "throughput":  # of training; an evaluation's speed is not a scalar of the run
        return "perf/images_per_s" if (split or meaning.split) in (None, "train") else None
    if quantity in ("step_time", "data_time"):  # of training steps, in seconds
        return f"perf/{quantity}_s" if (split or meaning.split) in (None, "train") else None
    if quantity == "data_wait_share":  # of training steps' time
        return "perf/data_wait_share" if (split or meaning.split) in (None, "train") else None
    if quantity == "teacher_forcing":
        return "train/teacher_forcing"
    split = split or meaning.split
    if split is None:
        return rest
    if quantity == "heatmap_peak":
        return f"{split}/heatmap_peak"
    if quantity == "sigma":
        return "codec/sigma"
    if quantity == "loss":
        # A training name that also says evaluation (`train/eval_loss`, `train_eval_loss_tf`) is the loss of
        # an evaluation pass over training images, not the batch loss the optimiser saw.
        evaluated = split == "train" and any(word in SPLIT_SPELLINGS["val"] for word in meaning.subject)
        base = f"{split}/eval_loss" if evaluated else f"{split}/loss"
        if meaning.decode:
            return f"{base}_{meaning.decode}"
        parts = [word for word in meaning.subject if word != "tf" and not (evaluated and word in SPLIT_SPELLINGS["val"])]
        return base + (f"/{'_'.join(parts)}" if parts else "")
    if meaning.subject or quantity is None:
        return f"{split}/{rest}"
    suffix = f"_{meaning.decode}" if meaning.decode == "tf" else ""
    if quantity in ("mre", "error"):  # the signals read val/mre_mm and val/mre_px by name
        if meaning.unit in ("mm", "px"):
            return f"{split}/mre_{meaning.unit}{suffix}"
        return f"{split}/{rest}"
    if quantity == "sd" and meaning.unit in ("mm", "px"):
        return f"{split}/sd_{meaning.unit}{suffix}"
    if quantity == "pck" and meaning.unit in (None, "%"):
        return (f"{split}/pck@{meaning.threshold}" if meaning.threshold else f"{split}/pck") + suffix
    if quantity == "sdr" and meaning.threshold and meaning.unit in ("mm", None):
        return f"{split}/sdr_{float(meaning.threshold):g}mm{suffix}"
    if quantity in ("nme", "epe", "auc") and meaning.unit is None:
        return f"{split}/{quantity}{suffix}"
    return f"{split}/{rest}"


def _module_suffix(meaning: Meaning, drop: tuple[str, ...] = ()) -> str:
    words = [word for word in meaning.subject if word not in drop]
    return "/" + "_".join(words) if words else ""


def _rest(name: str, split: str | None) -> str:
    """The logged name without its split word and one separator beside it: `val_acc` → `acc`,
    `Loss/train` → `Loss`, `loss_val_epoch` → `loss_epoch`, `valMeanRadialError` → `MeanRadialError`."""
    stripped = name.strip()
    if split is None:
        return stripped
    word, camel_case = _SPLIT_WORD[split]
    match = word.search(stripped)
    if match:
        left, right = stripped[: match.start()], stripped[match.end():]
        joiner = match.group()[-1] if left and right else ""
        return (left + joiner + right).strip("/_-. ") or stripped
    camel = camel_case.match(stripped)
    return stripped[camel.end():] if camel else stripped


def _split_patterns(split: str) -> tuple[re.Pattern, re.Pattern]:
    spellings = "|".join(sorted(map(re.escape, SPLIT_SPELLINGS[split]), key=len, reverse=True))
    return (re.compile(rf"(?i)(?:^|[/_\-. ])(?:{spellings})(?:$|[/_\-. ])"),
            re.compile(rf"(?:{spellings})(?=[A-Z0-9])", re.IGNORECASE))


_SPLIT_WORD = {split: _split_patterns(split) for split in SPLIT_SPELLINGS}
