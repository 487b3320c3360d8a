"""Read every case's files back (independently of ceph-doctor) and print the numbers its labels rest on.

    python tests/corpus/generate/review.py [case ...]

For each case: the monitored metric's first / best (epoch) / last, the training loss at the best epoch and at
the end, the validation loss since the best epoch, NaNs, the per-step spike count, and from per-landmark
predictions: the spread of predictions across images over the truth's, a linear fit of predictions to truth
(scale, R^2), and which landmarks got worse than their own best. The label decisions in labels.json were made
from this output.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

CASES = Path(__file__).resolve().parents[1] / "cases"
NUM = r"([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf))"


# ------------------------------------------------------------------------------------------- readers

def regex_rows(path: Path, pattern: str, split_cr: bool = False) -> pd.DataFrame:
    text = Path(path).read_text()
    lines = re.split(r"[\r\n]+", text) if split_cr else text.splitlines()
    rows = [m.groupdict() for m in (re.search(pattern, line) for line in lines) if m]
    frame = pd.DataFrame(rows)
    for column in frame:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


EPOCH_HEADERS = (r"\[epoch (\d+)\] val predictions", r"^Epoch (\d+)$", r"^\[Epoch (\d+)/\d+\]", r"^epoch: (\d+)$", r"^==> epoch (\d+)$",
                 r"Epoch\(val\) \[(\d+)\]", r"Epoch (\d+) predictions", r"^---- epoch (\d+)",
                 r"Iter\(val\) \[(\d+)\]", r"val @ step (\d+)")
IMAGE_HEADERS = (r"image (\d+)\.png", r"Image: (\d+)", r"img_id=(\d+)", r"image_id=(\d+)")
PRED = re.compile(r"(?:kpt (\d+):|\[(\d+)\]|^\s*([A-Za-z][\w .-]*?):)?\s*pred=\(([-\d.na]+), ([-\d.na]+)\) "
                  r"gt=\(([-\d.]+), ([-\d.]+)\)")


def preds_from_text(path: Path) -> pd.DataFrame:
    rows, epoch, image, k = [], None, None, 0
    for line in Path(path).read_text().splitlines():
        for pattern in EPOCH_HEADERS:
            m = re.search(pattern, line)
            if m:
                epoch = int(m.group(1))
                break
        for pattern in IMAGE_HEADERS:
            m = re.search(pattern, line)
            if m and "pred=" not in line:
                image, k = int(m.group(1)), 0
                break
        m = PRED.search(line)
        if m and epoch is not None:
            index = m.group(1) or m.group(2)
            landmark = int(index) if index is not None else k
            rows.append((epoch, image, landmark, *map(float, m.groups()[3:])))
            k += 1
    return pd.DataFrame(rows, columns=["epoch", "image", "landmark", "pred_x", "pred_y", "gt_x", "gt_y"])


def preds_from_jsonl(path: Path) -> pd.DataFrame:
    rows = []
    for line in Path(path).read_text().splitlines():
        item = json.loads(line)
        for k, (p, g) in enumerate(zip(item["pred"], item["gt"])):
            rows.append((item["epoch"], item["image"], k, p[0], p[1], g[0], g[1]))
    return pd.DataFrame(rows, columns=["epoch", "image", "landmark", "pred_x", "pred_y", "gt_x", "gt_y"])


# ------------------------------------------------------------------------------------------- measures

def curve_summary(metric: pd.Series, lower: bool = True) -> dict:
    metric = metric.dropna()
    if metric.empty:
        return {"metric": "none"}
    best_epoch = metric.idxmin() if lower else metric.idxmax()
    best, last, first = metric[best_epoch], metric.iloc[-1], metric.iloc[0]
    rise = (last - best) / abs(best) if lower else (best - last) / abs(best)
    return {"validations": len(metric), "first": round(float(first), 4), "best": round(float(best), 4),
            "best_epoch": int(best_epoch), "last": round(float(last), 4), "last_epoch": int(metric.index[-1]),
            "rise_since_best": round(float(rise), 3)}


def loss_summary(loss: pd.Series, best_epoch: int | None) -> dict:
    finite = loss[np.isfinite(loss)]
    out = {"loss_nonfinite": int((~np.isfinite(loss)).sum()), "loss_first": _r(finite.iloc[0]) if len(finite) else None,
           "loss_min": _r(finite.min()) if len(finite) else None, "loss_last": _r(loss.iloc[-1])}
    if best_epoch is not None and len(finite):
        at = finite[finite.index <= best_epoch]
        if len(at):
            out["loss_at_best"] = _r(at.iloc[-1])
            out["loss_change_since_best"] = round(float((finite.iloc[-1] - at.iloc[-1]) / at.iloc[-1]), 3)
    return out


def spikes(values) -> int:
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    return int(sum(values[i] > 5 * np.median(values[max(0, i - 20):i]) for i in range(5, len(values))))


def pred_summary(frame: pd.DataFrame, lower_rise: bool = True) -> dict:
    if frame.empty:
        return {}
    out = {}
    epochs = sorted(frame.epoch.unique())
    spread = []
    for epoch in epochs:
        f = frame[frame.epoch == epoch]
        g = f.groupby("landmark")
        p = np.sqrt(g.pred_x.var() + g.pred_y.var())
        t = np.sqrt(g.gt_x.var() + g.gt_y.var())
        spread.append(float(np.median(p / t)))
    out["spread_first_last"] = (round(spread[0], 2), round(spread[-1], 2))
    out["spread_min"] = round(min(spread), 2)
    last = frame[frame.epoch == epochs[-1]]
    for axis in "xy":
        a, b = np.polyfit(last[f"gt_{axis}"], last[f"pred_{axis}"], 1)
        fit = a * last[f"gt_{axis}"] + b
        r2 = 1 - ((last[f"pred_{axis}"] - fit) ** 2).sum() / ((last[f"pred_{axis}"] - last[f"pred_{axis}"].mean()) ** 2).sum()
        out[f"fit_{axis}"] = (round(float(a), 3), round(float(b), 1), round(float(r2), 3))
    swapped = np.polyfit(last.gt_y, last.pred_x, 1)
    fit = swapped[0] * last.gt_y + swapped[1]
    out["fit_pred_x_vs_gt_y_r2"] = round(float(1 - ((last.pred_x - fit) ** 2).sum() / ((last.pred_x - last.pred_x.mean()) ** 2).sum()), 3)
    err = np.hypot(frame.pred_x - frame.gt_x, frame.pred_y - frame.gt_y)
    per = frame.assign(err=err).groupby(["epoch", "landmark"]).err.mean().unstack()
    best, lastrow = per.min(), per.iloc[-1]
    worse = lastrow / best - 1
    out["landmarks_worse_20pct"] = {int(k): round(float(v), 2) for k, v in worse[worse > 0.2].items()}
    out["landmarks_improved_vs_first"] = int((lastrow < per.iloc[0]).sum())
    out["mre_from_preds_first_best_last"] = (round(float(per.iloc[0].mean()), 2), round(float(per.mean(axis=1).min()), 2),
                                             round(float(per.iloc[-1].mean()), 2))
    centre = last.groupby("landmark")[["pred_x", "pred_y"]].std().mean()
    out["pred_std_across_images_last_px"] = round(float(np.hypot(*centre)), 2)
    return out


def _r(x):
    return float(f"{float(x):.4g}")


def show(case: str, summary: dict) -> None:
    print(f"== {case}")
    if summary and all(isinstance(v, dict) for v in summary.values()):
        for run, values in summary.items():
            print(f"  -- {run}")
            for key, value in values.items():
                print(f"     {key}: {value}")
        return
    for key, value in summary.items():
        print(f"   {key}: {value}")


# ------------------------------------------------------------------------------------------- cases

def review_case(case: str) -> dict | None:
    root = CASES / case
    tool = case.split("_")[0]
    module = {"prints": "review_prints", "pandas": "review_pandas", "tb": "review_tb", "mlflow": "review_mlflow",
              "lightning": "review_lightning", "mmengine": "review_mmengine", "hf": "review_hf",
              "keras": "review_keras"}[tool]
    return globals()[module](case, root)


def standard(metric, lower, loss, val_loss=None, preds=None, step_loss=None, **extra) -> dict:
    summary = curve_summary(metric, lower)
    summary.update(loss_summary(loss, summary.get("best_epoch")))
    if val_loss is not None and len(val_loss) and "best_epoch" in summary:
        vl = val_loss.dropna()
        at = vl[vl.index <= summary["best_epoch"]]
        if len(at) and len(vl):
            summary["val_loss_at_best_last"] = (_r(at.iloc[-1]), _r(vl.iloc[-1]))
            summary["val_loss_change_since_best"] = round(float((vl.iloc[-1] - at.iloc[-1]) / at.iloc[-1]), 3)
    if step_loss is not None:
        s = np.asarray(step_loss, float)
        summary["step_spikes"] = spikes(s)
        finite = s[np.isfinite(s)]
        if len(finite):
            summary["step_max_over_first"] = _r(finite.max() / finite[0])
    if preds is not None:
        summary.update(pred_summary(preds))
    summary.update(extra)
    return summary


N = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"


def series(frame, x, y):
    f = frame.dropna(subset=[y]) if y in frame else frame.iloc[0:0]
    return pd.Series(f[y].values, index=f[x].astype(int).values) if len(f) else pd.Series(dtype=float)


def review_prints(case, root):
    if case == "prints_healthy":
        f = regex_rows(root / "train.log", rf"Epoch \[(?P<e>\d+)/\d+\] Train Loss: (?P<tl>{N}) Val Loss: (?P<vl>{N}) Val MRE: (?P<m>{N})")
        return standard(series(f, "e", "m"), True, series(f, "e", "tl"), series(f, "e", "vl"))
    if case == "prints_collapse":
        f = regex_rows(root / "stdout.txt", rf"train_loss=(?P<tl>{N}) val_loss=(?P<vl>{N}) mean_err=(?P<m>{N})")
        f["e"] = range(1, len(f) + 1)
        steps = regex_rows(root / "stdout.txt", rf"it\s+(?P<s>\d+)\s+loss (?P<l>{N})")
        return standard(series(f, "e", "m"), True, series(f, "e", "tl"), series(f, "e", "vl"),
                        preds_from_text(root / "stdout.txt"), steps.l.values)
    if case == "prints_stride_bug":
        f = regex_rows(root / "train_debug.log", rf"\[Epoch (?P<e>\d+)/\d+\] loss (?P<tl>{N}) \| val MRE (?P<m>{N})")
        return standard(series(f, "e", "m"), True, series(f, "e", "tl"), preds=preds_from_text(root / "train_debug.log"))
    if case == "prints_restart_append":
        f = regex_rows(root / "train.log", rf"epoch=(?P<e>\d+) step=\d+ loss=(?P<tl>{N}) val_loss=(?P<vl>{N}) val_nme=(?P<m>{N})")
        return standard(series(f, "e", "m"), True, series(f, "e", "tl"), series(f, "e", "vl"),
                        rows=len(f), starts=Path(root / "train.log").read_text().count("start training"))
    if case == "prints_tqdm_spiky":
        f = regex_rows(root / "train.out", rf"Epoch (?P<e>\d+): 100%.*loss=(?P<tl>{N}), val_mre=(?P<m>{N})", split_cr=True)
        steps = regex_rows(root / "train.out", rf"Epoch (?P<e>\d+):.*\| (?P<i>\d+)/\d+ .*loss=(?P<l>{N})\]", split_cr=True)
        steps = steps[~steps.duplicated(["e", "i"])]
        return standard(series(f.drop_duplicates("e"), "e", "m"), True, series(f.drop_duplicates("e"), "e", "tl"),
                        step_loss=steps.l.values)
    if case == "prints_jsonl_drift":
        f = regex_rows(root / "train.log", rf"epoch\s+(?P<e>\d+)\s+train_loss (?P<tl>{N})\s+val_loss (?P<vl>{N})\s+mre (?P<m>{N})")
        return standard(series(f, "e", "m"), True, series(f, "e", "tl"), series(f, "e", "vl"),
                        preds_from_jsonl(root / "val_predictions.jsonl"))
    if case == "prints_exposure":
        f = regex_rows(root / "log.txt", rf"epoch\s+(?P<e>\d+) \| loss (?P<tl>{N}) \| val_loss_tf (?P<tf>{N}) \| val_loss_ar (?P<ar>{N}) \| val_mre_ar (?P<m>{N})px \| val_mre_tf (?P<mt>{N})")
        return standard(series(f, "e", "m"), True, series(f, "e", "tl"), series(f, "e", "tf"),
                        ar_over_tf_first_last=(_r(f.ar.iloc[0] / f.tf.iloc[0]), _r(f.ar.iloc[-1] / f.tf.iloc[-1])),
                        mre_tf_last=_r(f.mt.iloc[-1]))
    if case == "prints_sparse":
        text = (root / "train.log").read_text()
        tl = regex_rows(root / "train.log", rf"train loss (?P<tl>{N})")
        tl["e"] = range(1, len(tl) + 1)
        m = regex_rows(root / "train.log", rf"validation: MRE (?P<m>{N}) px")
        m["e"] = [int(x) for x in re.findall(r"==> epoch (\d+)\n\s+train loss \S+\n\s+validation", text)]
        return standard(series(m, "e", "m"), True, series(tl, "e", "tl"), validated_epochs=list(m.e))
    if case == "prints_frozen":
        f = regex_rows(root / "finetune.log", rf"train_loss: (?P<tl>{N}) val_loss: (?P<vl>{N}) val_mre_mm: (?P<m>{N})")
        f["e"] = range(1, len(f) + 1)
        frac = re.search(r"trainable fraction: ([\d.]+)%", (root / "finetune.log").read_text()).group(1)
        return standard(series(f, "e", "m"), True, series(f, "e", "tl"), series(f, "e", "vl"),
                        preds_from_text(root / "finetune.log"), trainable_pct=frac)
    if case == "prints_diverged":
        s = regex_rows(root / "output.txt", rf"epoch (?P<e>\d+) step (?P<s>\d+)/\d+ loss (?P<l>{N}) grad_norm (?P<g>{N})")
        v = regex_rows(root / "output.txt", rf"epoch (?P<e>\d+) validation: loss (?P<vl>{N}) mre (?P<m>{N})")
        return standard(series(v, "e", "m"), True, s.groupby("e").l.mean(), series(v, "e", "vl"), step_loss=s.l.values,
                        grad_nonfinite=int((~np.isfinite(s.g)).sum()))
    if case == "prints_sigma_small":
        f = regex_rows(root / "train.log", rf"ep (?P<e>\d+) loss_train (?P<tl>{N}) loss_val (?P<vl>{N}) mre_val (?P<m>{N})px max_heatmap_val (?P<h>{N})")
        return standard(series(f, "e", "m"), True, series(f, "e", "tl"), series(f, "e", "vl"),
                        hm_max_first_last=(f.h.iloc[0], f.h.iloc[-1]))
    raise KeyError(case)


def review_pandas(case, root):
    h = pd.read_csv(root / "history.csv")
    if "trainLoss" in h:  # the camelCase script
        h = h.rename(columns={"epoch": "Epoch", "trainLoss": "Train Loss", "valLoss": "Val Loss",
                              "valMeanRadialErrorMm": "MRE (mm)"})
    preds = None
    if (root / "val_predictions.csv").exists():
        preds = pd.read_csv(root / "val_predictions.csv")
        if not pd.api.types.is_numeric_dtype(preds.landmark):
            preds["landmark"] = preds.groupby("landmark", sort=False).ngroup()
    return standard(series(h, "Epoch", "MRE (mm)"), True, series(h, "Epoch", "Train Loss"),
                    series(h, "Epoch", "Val Loss"), preds)


def tb_scalars(root):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    out = {}
    for events in sorted(Path(root).rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out[tag] = pd.Series({e.step: e.value for e in acc.Scalars(tag)})
    return out


def review_tb(case, root):
    s = tb_scalars(root)
    metric = s.get("Metric/MRE", s.get("val/mre_pixels", s.get("Metric/MRE_mm")))
    step = s.get("Loss/train_step", s.get("train/loss_iter"))
    extra = {"tags": sorted(s)}
    if "heatmap/peak" in s:
        extra["peak_first_last"] = (_r(s["heatmap/peak"].iloc[0]), _r(s["heatmap/peak"].iloc[-1]))
    if "val/loss_teacher" in s:
        extra["ar_over_tf_first_last"] = (_r(s["val/loss_free_running"].iloc[0] / s["val/loss_teacher"].iloc[0]),
                                          _r(s["val/loss_free_running"].iloc[-1] / s["val/loss_teacher"].iloc[-1]))
    if "frac_trainable" in s:
        extra["frac_trainable"] = _r(s["frac_trainable"].iloc[0])
        extra["grad_norm_backbone_max"] = _r(s["grad_norm/backbone"].max())
    return standard(metric, True, s.get("Loss/train", s.get("train/loss_epoch")),
                    s.get("Loss/val", s.get("val/loss_epoch")), step_loss=step.values if step is not None else None,
                    **extra)


def mlflow_metrics(root):
    runs = [p for p in Path(root, "mlruns").glob("*/*") if (p / "metrics").is_dir()]
    run = runs[0]
    out = {}
    for f in (run / "metrics").iterdir():
        rows = [line.split() for line in f.read_text().splitlines()]
        out[f.name] = pd.Series({int(r[2]): float(r[1]) for r in rows})
    return run, out


def review_mlflow(case, root):
    run, m = mlflow_metrics(root)
    preds = None
    art = run / "artifacts" / "predictions"
    if art.is_dir():
        rows = []
        for f in sorted(art.glob("*.json")):
            d = json.loads(f.read_text())
            for i, image in enumerate(d["images"]):
                for k in range(len(d["landmarks"])):
                    rows.append((d["epoch"], image, k, *d["pred"][i][k], *d["gt"][i][k]))
        preds = pd.DataFrame(rows, columns=["epoch", "image", "landmark", "pred_x", "pred_y", "gt_x", "gt_y"])
    extra = {"metrics": sorted(m)}
    if "validation.loss_autoregressive" in m:
        ar, tf = m["validation.loss_autoregressive"], m["validation.loss_teacher_forced"]
        extra["ar_over_tf_first_last"] = (_r(ar.iloc[0] / tf.iloc[0]), _r(ar.iloc[-1] / tf.iloc[-1]))
    if "frac_trainable" in m:
        extra["frac_trainable"] = _r(m["frac_trainable"].iloc[0])
    return standard(m["validation.mre_px"], True, m["training.epoch_loss"], m.get("validation.loss"), preds,
                    m["training.loss"].values, **extra)


def read_lightning_csv(path):
    """metrics.csv with empty cells (nothing logged) told apart from the text `nan` (a NaN was logged)."""
    raw = pd.read_csv(path, keep_default_na=False, dtype=str)
    present = raw != ""
    values = raw.where(present, "nan").astype(float)
    return values, present


def review_lightning(case, root):
    versions = sorted((root / "lightning_logs").glob("version_*"))
    summaries = {}
    for v in versions:
        f, present = read_lightning_csv(v / "metrics.csv")
        val = f[present["val_mre"]].groupby("epoch").last()
        tl = f[present["train_loss_epoch"]].groupby("epoch").train_loss_epoch.last()
        extra = {"columns": list(f.columns)}
        vl = val["val_loss"] if "val_loss" in val else val.get("val_coords_loss_tf")
        if "heatmap/peak" in val:
            extra["peak_first_last"] = (_r(val["heatmap/peak"].iloc[0]), _r(val["heatmap/peak"].iloc[-1]))
        if "val_coords_loss_tf" in val:
            ar = tb_scalars(root / "tb_logs").get("val_coords_loss_ar")
            tf = val["val_coords_loss_tf"]
            extra["ar_over_tf_first_last"] = (_r(ar.iloc[0] / tf.iloc[0]), _r(ar.iloc[-1] / tf.iloc[-1]))
        preds = None
        for out in root.glob("*.out"):
            text = out.read_text()
            m = re.search(r"Trainable params\D*([\d.]+ ?[KM]?)", text)
            if m:
                extra["summary_trainable"] = m.group(1)
                extra["summary_non_trainable"] = re.search(r"Non-trainable params\D*([\d.]+ ?[KM]?)", text).group(1)
            if "pred=(" in text:
                preds = preds_from_text(out)
        summaries[v.name] = standard(val["val_mre"], True, tl, vl, preds,
                                     f.train_loss_step[present["train_loss_step"]].values, **extra)
    return summaries if len(summaries) > 1 else summaries[versions[0].name]


def review_mmengine(case, root):
    stamp = next(p for p in root.iterdir() if p.is_dir())
    rows = [json.loads(line) for line in (stamp / "vis_data" / "scalars.json").read_text().splitlines()]
    f = pd.DataFrame(rows)
    val = f.dropna(subset=["EPE"])
    train = pd.DataFrame([r for r in rows if "loss" in r])  # a NaN loss is still a logged step
    metric = pd.Series(val.EPE.values, index=val["step"].astype(int).values)
    if "epoch" in train and train["epoch"].notna().all():  # epoch-based: validations are stepped by epoch
        tl = train.groupby("epoch").loss.mean()
    else:  # iteration-based: the mean training loss of each validation interval, at the validation's iteration
        edges = val["step"].values
        tl = train.groupby(np.searchsorted(edges, train["step"].values)).loss.mean()
        tl.index = [int(edges[min(i, len(edges) - 1)]) for i in tl.index]
    tl.index = tl.index.astype(int)
    extra = {"keys": sorted(c for c in f.columns)}
    if "hm_max" in val:
        extra["hm_max_first_last"] = (_r(val.hm_max.iloc[0]), _r(val.hm_max.iloc[-1]))
    if "coord_loss_teacher" in val:
        extra["ar_over_tf_first_last"] = (_r(val.coord_loss_free.iloc[0] / val.coord_loss_teacher.iloc[0]),
                                          _r(val.coord_loss_free.iloc[-1] / val.coord_loss_teacher.iloc[-1]))
    if "frac_trainable" in f:
        extra["frac_trainable"] = _r(f.frac_trainable.dropna().iloc[0])
    log = stamp / f"{stamp.name}.log"
    preds = mm_preds(log) if "pred=(" in log.read_text() else None
    return standard(metric, True, tl, None, preds, train.loss.values, **extra)


def mm_preds(log):
    rows, epoch, image = [], None, None
    for line in log.read_text().splitlines():
        m = re.search(r"Epoch\(train\)\s+\[(\d+)\]", line)
        if m:
            epoch = int(m.group(1))
        m = re.search(r"image_id=(\d+)", line)
        if m:
            image = int(m.group(1))
        m = re.search(r"kpt (\d+): pred=\(([-\d.na]+), ([-\d.na]+)\) gt=\(([-\d.]+), ([-\d.]+)\)", line)
        if m:
            rows.append((epoch, image, int(m.group(1)), *map(float, m.groups()[1:])))
    return pd.DataFrame(rows, columns=["epoch", "image", "landmark", "pred_x", "pred_y", "gt_x", "gt_y"])


def review_hf(case, root):
    state = json.loads((root / "outputs" / "trainer_state.json").read_text())
    h = pd.DataFrame(state["log_history"])
    ev = h.dropna(subset=["eval_loss"])
    tr = h.dropna(subset=["loss"])
    x = "step"
    metric_name = "eval_nme" if "eval_nme" in ev else "eval_mre_mm"
    metric = pd.Series(ev[metric_name].values, index=ev[x].astype(int).values)
    tl = tr.groupby(np.searchsorted(ev[x].values, tr[x].values)).loss.mean()
    tl.index = [int(ev[x].values[min(i, len(ev) - 1)]) for i in tl.index]
    extra = {"keys": sorted(h.columns)}
    if "eval_ar_loss" in ev:
        extra["ar_over_tf_first_last"] = (_r(ev.eval_ar_loss.iloc[0] / ev.eval_loss.iloc[0]),
                                          _r(ev.eval_ar_loss.iloc[-1] / ev.eval_loss.iloc[-1]))
    if "eval_hm_max" in ev:
        extra["hm_max_first_last"] = (_r(ev.eval_hm_max.iloc[0]), _r(ev.eval_hm_max.iloc[-1]))
    if "grad_norm" in tr:
        extra["grad_norm_nonfinite"] = int((~np.isfinite(tr.grad_norm.astype(float))).sum())
    return standard(metric, True, tl, pd.Series(ev.eval_loss.values, index=metric.index), step_loss=tr.loss.values,
                    **extra)


def review_keras(case, root):
    log = root / "training.log" if (root / "training.log").exists() else root / "history.csv"
    f = pd.read_csv(log, keep_default_na=False).replace("", np.nan).astype(float)  # Keras writes NaN as `nan`
    f["epoch"] += 1
    return standard(series(f, "epoch", "val_mean_radial_error"), True, pd.Series(f.loss.values, index=f.epoch.astype(int)),
                    series(f, "epoch", "val_loss"), train_mre_first_last=(_r(f.mean_radial_error.iloc[0]),
                                                                          _r(f.mean_radial_error.iloc[-1])))


if __name__ == "__main__":
    wanted = sys.argv[1:] or sorted(p.name for p in CASES.iterdir())
    for name in wanted:
        try:
            summary = review_case(name)
        except Exception as error:  # noqa: BLE001 - a review tool: say what broke and go on
            summary = {"error": repr(error)}
        show(name, summary or {})
