"""The grammar of one line of a training's text output: where in training it is, what it measured.

A line (or one `\\r`-separated update of a progress bar) may carry:
- a position: `Epoch 3/50`, `Epoch [3/100]`, `[Epoch 3]`, `epoch=3`, `==> epoch 3`, `Epoch 3:` (tqdm and
  Lightning bars), MMEngine's `Epoch(val) [3][10/10]` and `Iter(train) [ 400/8000]`, mmcv's `Epoch [3][50/397]`;
  the `/50` of the first shapes is the planned number of epochs;
- metric values: `loss: 0.12`, `val_loss=0.2`, `Train Loss: 1.9463`, `Val Acc: 17.37%`, `- val_loss: 0.6`
  (Keras), tqdm postfixes `loss=0.12, v_num=0`; a unit after the value (`3.2 mm`, `45%`) is kept;
- a per-landmark prediction: `pred=(113.0, 61.0) gt=(126.6, 102.7)`, with an `err=` field, a `kpt 3:` or
  `Sella:` prefix, an `image 0012.png` field;
- an image header (`image 0012.png`, `Image: 12`, `img_id=12`) for the prediction lines below it;
- a parameter count of a model summary (`21.8 M    Trainable params`).
Which metric names are kept is decided by the name grammar (`store.meaning`), not here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ceph_doctor.store.meaning import parse

NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|nan|NaN|inf|-inf|Infinity)"
# A value may be quoted (`'loss': '0.047'`, a printed dict) and carry thousands separators (`19,494`).
_VALUE = rf"['\"]?(\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|{NUMBER})(?![\d:/]|\.\d)['\"]?(\s*(?:%|mm|px)(?![A-Za-z]))?"
PAIR_OF = r"\s*[=:]?\s*[\(\[]\s*(" + NUMBER + r")\s*[, ]\s*(" + NUMBER + r")\s*[\)\]]"
PRED = re.compile(r"\b(?:pred(?:icted|iction)?|est(?:imated)?|output|p)" + PAIR_OF, re.IGNORECASE)
TRUE = re.compile(r"\b(?:gt|true|target|truth|label|ref|groundtruth)" + PAIR_OF, re.IGNORECASE)
ERROR = re.compile(r"\b(?:error|err|dist|distance)(_px|_mm)?\s*[=:]\s*(" + NUMBER + r")\s*(px|mm)?", re.IGNORECASE)
IMAGE = re.compile(r"\b(?:image_id|img_id|image|img|file|sample|case)\b(?:\s*[=:#]\s*|\s+)([\w.\-/]+)", re.IGNORECASE)
LANDMARK = re.compile(
    r"\b(?:landmark|lm|kpt|kp|keypoint|point|joint|pt)\s*[=:#_]?\s*([\w\-]+)|^\s*(?:[-*>|]\s*)?([A-Za-z][\w\-' ]{0,40}?)\s*:\s*"
    r"(?=pred|p\s*=|est|output)", re.IGNORECASE)

# Positions, most specific first. Each gives (epoch, total epochs, iteration, split) as it can.
MM_EPOCH = re.compile(r"\bEpoch\s*\((train|val|test)\)\s*\[\s*(\d+)\s*\](?:\s*\[\s*(\d+)\s*(?:/\s*(\d+))?\s*\])?")
MM_ITER = re.compile(r"\bIter\s*\((train|val|test)\)\s*\[\s*(\d+)\s*(?:/\s*(\d+))?\s*\]")
MMCV_EPOCH = re.compile(r"\bEpoch\s*\[\s*(\d+)\s*\]\s*\[\s*(\d+)\s*/\s*(\d+)\s*\]")
EPOCH = re.compile(r"(?<![\w/])(?:epoch|ep)\b['\"]?\s*[:=#]?\s*['\"]?\[?\s*(\d+(?:\.\d+)?)\s*(?:(?:/|of)\s*(\d+))?",
                   re.IGNORECASE)
ITERATION = re.compile(r"(?<![\w/])(?:iter(?:ation)?|global_step|step)\b\s*[:=#]?\s*\[?\s*(\d+)(?:\s*/\s*(\d+))?",
                       re.IGNORECASE)
# A bar's "i/n" position: `| 7/11 [` (tqdm) or `7/11 ━━━` (Keras 3) or `7/11 [====` (Keras 2).
BAR_POSITION = re.compile(r"(?:\|\s*|^\s*)(\d+)/(\d+)\s*(?:\[|━|─|\|)")

# `name: value` and `name=value`; a name of one token…
SINGLE_PAIR = re.compile(rf"(?<![\w.\-/])['\"]?([A-Za-z][\w/@.\-%]*(?:\([\w%@.]+\))?)['\"]?\s*(?::|=)\s*{_VALUE}")
# …or of up to four words after a separator (`, Train Loss: 1.9`, ` - Val MRE: 3.2 mm`), only with a colon.
WORDS_PAIR = re.compile(
    rf"(?:^|[,;|\t\]]|\s[-–|]\s|\s{{2,}}|INFO\s)\s*([A-Za-z][\w@.%()\-]*(?:\s[A-Za-z(][\w@.%()\-]*){{1,3}})\s*:\s*{_VALUE}"
)
# …or `name value` with only a space between, kept only when the grammar knows the name (`loss 0.12 lr 50`).
SPACE_PAIR = re.compile(rf"(?<![\w.\-/:])([A-Za-z][\w/@.\-]*)\s+{_VALUE}(?=\s|$|[,;|)\]])")
# A split said once for the values after it: `validation: loss 0.4 mre 3.1`, `[val] loss=0.4`, `| train: …`.
SPLIT_MARK = re.compile(r"(?i)(?<![\w/])(train(?:ing)?|val(?:id(?:ation)?)?|eval(?:uation)?|test(?:ing)?)\s*[:\]|]")
_SPLITS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "eval": "val",
           "evaluation": "val", "test": "test", "testing": "test"}
COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGB]?)\s+(Trainable params|Non-trainable params|Total params)\b",
                   re.IGNORECASE)
_WORTH_READING = re.compile(r"\d|image|img")  # a line with no number and no image header says nothing here
_COUNTS = ("trainable_count", "total_count", "frozen_count", "trainable_frac")
_SCALE = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9}
_UNIT = {"%": "%", "mm": "mm", "px": "px"}


@dataclass
class Position:
    epoch: int | None = None
    total_epochs: int | None = None
    iteration: int | None = None
    total_iterations: int | None = None
    split: str | None = None  # a split the line itself names (MMEngine's Epoch(val))
    bar: tuple[int, int] | None = None  # (i, n) of a progress bar


@dataclass
class Value:
    name: str
    value: float
    unit: str | None = None
    split: str | None = None  # a split the line said before the value (`validation: loss 0.4`)


@dataclass
class Line:
    position: Position = field(default_factory=Position)
    values: list[Value] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # names with numbers that the grammar cannot place
    prediction: dict | None = None  # pred_x, pred_y, true_x, true_y, error_px, landmark, image
    image: str | None = None  # an image header
    text: str = ""  # the line itself
    summary: bool = False  # a model summary's parameter count: meaningful without a position
    broken: bool = False  # a pred= without a readable truth beside it

    @property
    def placed(self) -> bool:
        """Whether the line says where in training it is (an epoch, an iteration or a bar position)."""
        return self.position.epoch is not None or self.position.iteration is not None or self.position.bar is not None


SETTING = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*)\s*[=:]\s*'?([-+]?[\w.]+)")


def settings(text: str) -> dict[str, str]:
    """`key=value` / `key: value` pairs of a line printed before training (argparse Namespaces, configs)."""
    return dict(SETTING.findall(text))


def position(text: str) -> Position:
    found = Position()
    if match := MM_EPOCH.search(text):
        found.split, found.epoch = match.group(1), int(match.group(2))
        if match.group(3) and match.group(4):
            found.iteration, found.total_iterations = int(match.group(3)), int(match.group(4))
    elif match := MM_ITER.search(text):
        found.split = match.group(1)
        if found.split == "train":
            found.iteration = int(match.group(2))
            found.total_iterations = int(match.group(3)) if match.group(3) else None
    elif match := MMCV_EPOCH.search(text):
        found.epoch, found.iteration, found.total_iterations = (int(g) for g in match.groups())
    elif match := EPOCH.search(text):
        found.epoch = math.ceil(float(match.group(1)))  # Hugging Face prints fractional epochs: 0.33 is in epoch 1
        found.total_epochs = int(match.group(2)) if match.group(2) else None
    if found.iteration is None and found.epoch is None and (match := ITERATION.search(text)):
        found.iteration = int(match.group(1))
        found.total_iterations = int(match.group(2)) if match.group(2) else None
    if match := BAR_POSITION.search(text):
        found.bar = (int(match.group(1)), int(match.group(2)))
    return found


def values(text: str) -> tuple[list[Value], list[str]]:
    """The metric values of a line, and the names with numbers the grammar could not place."""
    spans: dict[int, tuple[int, Value, bool]] = {}  # value end → (name start, value, spaced): a longer name wins
    unknown = []
    marks = [(match.start(), _SPLITS[match.group(1).lower()]) for match in SPLIT_MARK.finditer(text)]
    for pattern in (SPACE_PAIR, SINGLE_PAIR, WORDS_PAIR):
        for match in pattern.finditer(text):
            name = match.group(1).strip()
            unit = _UNIT.get((match.group(3) or "").strip())
            start = match.start(1)
            end = match.end(2)
            if end in spans and spans[end][0] <= start:
                continue
            split = next((said for at, said in reversed(marks) if at < start), None)
            number = float(match.group(2).replace(",", ""))
            spans[end] = (start, Value(name, number, unit, split), pattern is SPACE_PAIR)
    found = []
    for _, (_, value, spaced) in sorted(spans.items()):
        meaning = parse(value.name)
        if meaning.quantity in ("epoch", "step"):
            continue
        if meaning.quantity is None:
            if value.unit != "%" and not spaced:  # `Training: 45%|…` is a bar; `GPU 0` is prose
                unknown.append(value.name)
            continue
        found.append(value)
    return found, unknown


def prediction(text: str) -> dict | None:
    pred = PRED.search(text)
    true = TRUE.search(text)
    if pred is None or true is None or pred.start() == true.start():
        return None
    record = {"pred_x": float(pred.group(1)), "pred_y": float(pred.group(2)),
              "true_x": float(true.group(1)), "true_y": float(true.group(2))}
    error = ERROR.search(text, max(pred.end(), true.end())) or ERROR.search(text)
    unit = ((error.group(1) or "").strip("_") or (error.group(3) or "")).lower() if error else ""
    if error and unit != "mm":
        record["error_px"] = float(error.group(2))
    landmark = LANDMARK.search(text[: min(pred.start(), true.start())])
    if landmark:
        record["landmark"] = (landmark.group(1) or landmark.group(2)).strip()
    image = IMAGE.search(text)
    if image:
        record["image"] = image.group(1)
    return record


def read_line(text: str) -> Line:
    """Everything one line says; cheap for the many lines that say nothing."""
    line = Line(text=text)
    if not _WORTH_READING.search(text):
        return line
    line.position = position(text)
    line.prediction = prediction(text) if "(" in text or "[" in text else None
    line.broken = line.prediction is None and PRED.search(text) is not None
    if line.prediction is None:
        if count := COUNT.match(text):
            number = float(count.group(1)) * _SCALE[count.group(2).upper()]
            line.values.append(Value(count.group(3), number))
            line.summary = True
            return line
        line.values, line.unknown = values(text)
        # PEFT's `trainable params: 19,494 || all params: 260,454 || trainable%: 7.48` is a summary too.
        line.summary = bool(line.values) and all(parse(v.name).quantity in _COUNTS for v in line.values)
        image = IMAGE.search(text)
        if image and not line.values:
            line.image = image.group(1)
    return line
