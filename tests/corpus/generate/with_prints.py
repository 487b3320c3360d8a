"""Plain PyTorch scripts that print (or `logging`) their progress: the text logs people keep.

Each case is one hand-written training (common.PlainLoop) whose script prints in its own style: a
`Epoch [3/30] Train Loss: ...` summary, `epoch=3 loss=...` key=value lines through the logging module,
tqdm bars with postfixes, per-landmark `pred=(x, y) gt=(x, y)` debug prints under epoch and image headers,
and JSON lines of predictions.  python tests/corpus/generate/with_prints.py [case ...]
"""

from __future__ import annotations

import copy
import json
import logging

import numpy as np
import torch
from tqdm import tqdm

import common
from common import SPACING_MM, PlainLoop, Tee, case_dir, debug_block, recipe, selected


def out(*parts):
    print(*parts, flush=True)


# ----------------------------------------------------------------------------------------------- cases

def prints_healthy():
    """`Epoch [3/30] Train Loss: ... Val Loss: ... Val MRE: 3.21 mm`."""
    plan = recipe("healthy_heatmap")
    path = case_dir("prints_healthy")

    class Hook:
        def on_validation(self, loop, epoch, step, result):
            out(f"Epoch [{epoch}/{plan.epochs}] Train Loss: {result['train_loss']:.4f} Val Loss: {result['loss']:.4f} "
                f"Val MRE: {result['mre_mm']:.2f} mm SDR@4mm: {100 * result['sdr_4mm']:.1f}%")

    with Tee(path / "train.log"):
        out(f"Namespace(batch_size={plan.batch_size}, epochs={plan.epochs}, lr={plan.lr}, sigma={plan.task.sigma}, "
            f"stride={plan.task.stride}, input_size=({common.IN_W}, {common.IN_H}), pixel_spacing={SPACING_MM:.4f})")
        PlainLoop(plan, [Hook()]).run()
        out("Done.")


def prints_collapse():
    """lr 5e-2, no warmup; per-landmark `kpt 3: pred=... gt=... err=...` under `Epoch 15` / `image 0003.png`."""
    plan = recipe("collapse_heatmap")
    path = case_dir("prints_collapse")

    class Hook:
        def on_step(self, loop, step, epoch, loss, lr, grads):
            if step % 6 == 0:
                out(f"  it {step:4d}  loss {loss:.6f}")

        def on_validation(self, loop, epoch, step, result):
            out(f"Epoch {epoch}")
            out(f"train_loss={result['train_loss']:.6f} val_loss={result['loss']:.6f} mean_err={result['mre_px']:.2f}px")
            for line in debug_block(result, loop.val.ids, loop.val.names, "kpt"):
                out(line)

    with Tee(path / "stdout.txt"):
        out(f"config: lr={plan.lr} optimizer=Adam warmup=none batch={plan.batch_size} sigma={plan.task.sigma} "
            f"image_size={common.ORIG_W}x{common.ORIG_H} (model input {common.IN_W}x{common.IN_H})")
        PlainLoop(plan, [Hook()]).run()


def prints_stride_bug():
    """The evaluation forgets to multiply heatmap coordinates by the stride: `Sella: pred=... gt=... dist=...`."""
    plan = recipe("healthy_heatmap", epochs=25, task={"eval_bug": "stride"})
    path = case_dir("prints_stride_bug")

    class Hook:
        def on_validation(self, loop, epoch, step, result):
            out(f"[Epoch {epoch}/{plan.epochs}] loss {result['train_loss']:.5f} | val MRE {result['mre_px']:.2f} px | "
                f"SDR@4mm {100 * result['sdr_4mm']:.1f}%")
            for line in debug_block(result, loop.val.ids, loop.val.names, "name", images=8):
                out(line)

    with Tee(path / "train_debug.log"):
        out(f"heatmap stride {plan.task.stride}, sigma {plan.task.sigma}, input {common.IN_W}x{common.IN_H}, "
            f"original {common.ORIG_W}x{common.ORIG_H}")
        PlainLoop(plan, [Hook()]).run()


def prints_restart_append():
    """Two trainings appended to one train.log: the first is killed after epoch 70, the second resumes from its
    checkpoint (`epoch=3 loss=... val_nme=...` through logging, NME = MRE / image width)."""
    plan = recipe("overfit_heatmap")
    path = case_dir("prints_restart_append")
    log_file = path / "train.log"

    def logger_for(run):
        logger = logging.getLogger(f"train.{run}")
        logger.handlers.clear()
        handler = logging.FileHandler(log_file, mode="a")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        return logger, handler

    class Hook:
        def __init__(self, logger):
            self.logger = logger

        def on_validation(self, loop, epoch, step, result):
            self.logger.info(f"epoch={epoch} step={step} loss={result['train_loss']:.6f} val_loss={result['loss']:.6f} "
                             f"val_nme={result['nme']:.4f}")

    logger, handler = logger_for(1)
    logger.info(f"start training: epochs={plan.epochs} lr={plan.lr} n_train={plan.n_train} "
                f"label_noise_px={plan.label_noise_px} augment=False image_width={common.ORIG_W}")
    first = PlainLoop(plan, [Hook(logger)])
    first.run(1, 70)
    checkpoint = {"model": copy.deepcopy(first.model.state_dict()),
                  "optimizer": copy.deepcopy(first.optimizer.state_dict()), "epoch": 70}
    handler.close()  # the job was killed here (time limit); nothing more was written

    logger, handler = logger_for(2)
    logger.info(f"start training: epochs={plan.epochs} lr={plan.lr} n_train={plan.n_train} "
                f"label_noise_px={plan.label_noise_px} augment=False image_width={common.ORIG_W}")
    logger.info(f"resuming from work_dir/checkpoint_epoch{checkpoint['epoch']}.pth")
    second = PlainLoop(plan, [Hook(logger)])
    second.model.load_state_dict(checkpoint["model"])
    second.optimizer.load_state_dict(checkpoint["optimizer"])
    second.run(checkpoint["epoch"] + 1, plan.epochs)
    logger.info("training finished")
    handler.close()


def prints_tqdm_spiky():
    """tqdm bars with postfixes, captured to a file (carriage returns and all)."""
    plan = recipe("spiky_heatmap")
    path = case_dir("prints_tqdm_spiky")
    with open(path / "train.out", "w") as stream:
        class Hook:
            bar = None

            def on_step(self, loop, step, epoch, loss, lr, grads):
                if self.bar is None:
                    self.bar = tqdm(total=loop.steps_per_epoch, desc=f"Epoch {epoch}", file=stream, ncols=100,
                                    mininterval=0, ascii=False)
                self.bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                self.bar.update(1)

            def on_validation(self, loop, epoch, step, result):
                self.bar.set_postfix(loss=f"{result['train_loss']:.4g}", val_mre=f"{result['mre_px']:.2f}")
                self.bar.close()
                self.bar = None

        stream.write(f"optimizer: SGD(lr={plan.lr}, momentum={plan.momentum})\n")
        PlainLoop(plan, [Hook()]).run()


def prints_jsonl_drift():
    """JSON lines of every validation image's predictions beside a short text log; three landmarks' training
    labels drift because the jitter augmentation writes into the cached annotation array."""
    plan = recipe("drift_heatmap")
    path = case_dir("prints_jsonl_drift")
    with open(path / "val_predictions.jsonl", "w") as preds, Tee(path / "train.log"):
        class Hook:
            def on_validation(self, loop, epoch, step, result):
                out(f"epoch {epoch:3d}  train_loss {result['train_loss']:.6f}  val_loss {result['loss']:.6f}  "
                    f"mre {result['mre_px']:.3f} px")
                for i, image in enumerate(loop.val.ids):
                    preds.write(json.dumps({"epoch": epoch, "image": image[-3:],
                                            "pred": np.round(result["pred"][i], 2).tolist(),
                                            "gt": np.round(result["gt"][i], 2).tolist()}) + "\n")

        out("landmarks: " + ", ".join(common.NAMES))
        out(f"augment: jitter(sigma=0.3px) on {[common.NAMES[i] for i in plan.inplace_drift['landmarks']]}")
        PlainLoop(plan, [Hook()]).run()


def prints_exposure():
    """A GRU decoder trained teacher-forced, validated both ways: `| val_loss_tf ... | val_loss_ar ...`."""
    plan = recipe("exposure")
    path = case_dir("prints_exposure")

    class Hook:
        def on_validation(self, loop, epoch, step, result):
            out(f"epoch {epoch:3d} | loss {result['train_loss']:.6f} | val_loss_tf {result['loss_tf']:.6f} | "
                f"val_loss_ar {result['loss_ar']:.6f} | val_mre_ar {result['mre_px']:.2f}px | "
                f"val_mre_tf {result['mre_tf_px']:.2f}px")

    with Tee(path / "log.txt"):
        out("model: SequenceNet (GRU decoder, 19 landmarks in ISBI order, teacher forcing during training)")
        PlainLoop(plan, [Hook()]).run()


def prints_sparse():
    """Validation only every 5 epochs of 40: `==> epoch 15` headers."""
    plan = recipe("healthy_heatmap", epochs=40, val_interval=5)
    path = case_dir("prints_sparse")

    class Hook:
        def on_epoch_end(self, loop, epoch, train_loss, step):
            out(f"==> epoch {epoch}")
            out(f"    train loss {train_loss:.6f}")

        def on_validation(self, loop, epoch, step, result):
            out(f"    validation: MRE {result['mre_px']:.3f} px ({result['mre_mm']:.3f} mm)  "
                f"SDR@2mm {100 * result['sdr_2mm']:.1f}%  SDR@4mm {100 * result['sdr_4mm']:.1f}%")

    with Tee(path / "train.log"):
        out(f"epochs: {plan.epochs}  val_every: {plan.val_interval}  lr: {plan.lr}")
        PlainLoop(plan, [Hook()]).run()


def prints_frozen():
    """The backbone frozen by mistake: the script prints its parameter counts, then `epoch: 5 ...` lines."""
    plan = recipe("frozen_regression")
    path = case_dir("prints_frozen")

    class Hook:
        def on_start(self, loop):
            out(f"Trainable params: {loop.trainable:,} | Non-trainable params: {loop.total - loop.trainable:,} | "
                f"trainable fraction: {100 * loop.trainable / loop.total:.2f}%")

        def on_validation(self, loop, epoch, step, result):
            out(f"epoch: {epoch}")
            out(f"train_loss: {result['train_loss']:.6f} val_loss: {result['loss']:.6f} "
                f"val_mre_mm: {result['mre_mm']:.3f}")
            if epoch % 5 == 0:
                for line in debug_block(result, loop.val.ids, loop.val.names, "imgid", images=6):
                    out(line)

    with Tee(path / "finetune.log"):
        out("freezing backbone (requires_grad=False)")
        PlainLoop(plan, [Hook()]).run()


def prints_diverged():
    """SGD at lr 20: `step 12/24 loss nan`."""
    plan = recipe("diverged_heatmap", log_every=1)
    path = case_dir("prints_diverged")

    class Hook:
        def on_step(self, loop, step, epoch, loss, lr, grads):
            out(f"epoch {epoch} step {step}/{loop.total_steps} loss {loss:.6g} grad_norm {grads['total']:.4g} lr {lr:g}")

        def on_validation(self, loop, epoch, step, result):
            out(f"epoch {epoch} validation: loss {result['loss']:.6g} mre {result['mre_px']:.2f}px")

    with Tee(path / "output.txt"):
        PlainLoop(plan, [Hook()]).run()


def prints_sigma_small():
    """sigma 0.3 heatmap px, stated in the args line; `max_heatmap_val` printed each epoch."""
    plan = recipe("sigma_small")
    path = case_dir("prints_sigma_small")

    class Hook:
        def on_validation(self, loop, epoch, step, result):
            out(f"ep {epoch:02d} loss_train {result['train_loss']:.3e} loss_val {result['loss']:.3e} "
                f"mre_val {result['mre_px']:.2f}px max_heatmap_val {result['hm_max']:.4f}")

    with Tee(path / "train.log"):
        out(f"args: Namespace(sigma={plan.task.sigma}, stride={plan.task.stride}, lr={plan.lr}, "
            f"epochs={plan.epochs}, heatmap_size=({plan.task.hm_w}, {plan.task.hm_h}))")
        PlainLoop(plan, [Hook()]).run()


CASES = {f.__name__: f for f in (prints_healthy, prints_collapse, prints_stride_bug, prints_restart_append,
                                  prints_tqdm_spiky, prints_jsonl_drift, prints_exposure, prints_sparse,
                                  prints_frozen, prints_diverged, prints_sigma_small)}

if __name__ == "__main__":
    for name in selected(CASES):
        CASES[name]()
        print("wrote", name, flush=True)
