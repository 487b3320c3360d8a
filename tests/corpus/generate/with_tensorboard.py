"""Plain PyTorch loops logging with torch.utils.tensorboard.SummaryWriter, tag names as the tutorials write them
(`Loss/train`, `Loss/val`, `Metric/MRE`, `LR`, ...). Event files land in runs/<name>/ as SummaryWriter puts them.
python tests/corpus/generate/with_tensorboard.py [case ...]
"""

from __future__ import annotations

from torch.utils.tensorboard import SummaryWriter

from common import SPACING_MM, PlainLoop, case_dir, recipe, selected


class Board:
    def __init__(self, writer, names: dict, grads: bool = False, trainable: bool = False):
        self.w, self.names, self.grads, self.trainable = writer, names, grads, trainable

    def on_start(self, loop):
        if self.trainable:
            self.w.add_scalar("frac_trainable", loop.trainable / loop.total, 0)
            self.w.add_scalar("trainable_params", loop.trainable, 0)

    def on_step(self, loop, step, epoch, loss, lr, grads):
        self.w.add_scalar(self.names.get("step_loss", "Loss/train_step"), loss, step)
        self.w.add_scalar("LR", lr, step)
        if self.grads:
            for module in ("backbone", "head"):
                self.w.add_scalar(f"grad_norm/{module}", grads[module], step)

    def on_epoch_end(self, loop, epoch, train_loss, step):
        self.w.add_scalar(self.names.get("train", "Loss/train"), train_loss, epoch)

    def on_validation(self, loop, epoch, step, result):
        self.last = result
        for tag, key in self.names.get("val", {}).items():
            self.w.add_scalar(tag, result[key], epoch)
        self.w.flush()


def run(name, plan, names, hparams=None, **kw):
    path = case_dir(name)
    writer = SummaryWriter(log_dir=str(path / "runs" / name))
    board = Board(writer, names, **kw)
    PlainLoop(plan, [board]).run()
    if hparams is not None:  # the run's settings in TensorBoard's HPARAMS tab, with its last validation
        writer.add_hparams(hparams, {"hparam/final_mre": board.last["mre_px"]}, run_name="hparams")
    writer.close()


def tb_healthy():
    run("tb_healthy", recipe("healthy_heatmap"),
        {"val": {"Loss/val": "loss", "Metric/MRE": "mre_px", "Metric/SDR_4mm": "sdr_4mm"}})


def tb_sigma_small():
    """sigma only in add_hparams; the predicted peak logged as `heatmap/peak`."""
    plan = recipe("sigma_small")
    run("tb_sigma_small", plan, {"val": {"Loss/val": "loss", "Metric/MRE": "mre_px", "heatmap/peak": "hm_max"}},
        hparams={"sigma": plan.task.sigma, "stride": plan.task.stride, "lr": plan.lr})


def tb_exposure():
    run("tb_exposure", recipe("exposure"),
        {"val": {"val/loss_teacher": "loss_tf", "val/loss_free_running": "loss_ar", "Metric/MRE": "mre_px"}})


def tb_single_image_seq():
    """The one-image sanity test of a sequence decoder: `val/loss_teacher`, `val/loss_free_running`, `val/pck`."""
    run("tb_single_image_seq", recipe("single_image_seq"),
        {"val": {"val/loss_teacher": "loss_tf", "val/loss_free_running": "loss_ar", "val/pck": "pck",
                 "Metric/MRE": "mre_px"}})


def tb_spiky():
    plan = recipe("spiky_heatmap")
    run("tb_spiky", plan, {"step_loss": "train/loss_iter", "train": "train/loss_epoch",
                           "val": {"val/loss_epoch": "loss", "val/mre_pixels": "mre_px"}})


def tb_plateau():
    run("tb_plateau", recipe("plateau_regression"),
        {"train": "Loss/train", "val": {"Loss/val": "loss", "Accuracy/val": "pck", "Metric/MRE_mm": "mre_mm"}})


def tb_frozen():
    plan = recipe("frozen_regression")
    run("tb_frozen", plan, {"val": {"Loss/val": "loss", "Metric/MRE": "mre_px"}}, grads=True, trainable=True)


def tb_diverged():
    run("tb_diverged", recipe("diverged_heatmap", log_every=1),
        {"val": {"Loss/val": "loss", "Metric/MRE": "mre_px"}})


CASES = {f.__name__: f for f in (tb_healthy, tb_sigma_small, tb_exposure, tb_single_image_seq, tb_spiky, tb_plateau, tb_frozen,
                                  tb_diverged)}

if __name__ == "__main__":
    for name in selected(CASES):
        CASES[name]()
        print("wrote", name, flush=True)
