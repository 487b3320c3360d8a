"""Hugging Face Trainer runs around the shared model (a plain nn.Module returning {"loss", "logits"}).

The output dir gets trainer_state.json from trainer.save_state() (log_history: `loss`, `grad_norm`,
`learning_rate`, `epoch` as a float, `eval_loss`, `eval_nme`, `eval_pck` ... from compute_metrics, which HF
prefixes with `eval_`). No checkpoints are saved (save_strategy="no"). One case also reports to TensorBoard,
one keeps the captured stdout.  python tests/corpus/generate/with_hf.py [case ...]
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ["TOKENIZERS_PARALLELISM"] = "false"
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from transformers import Trainer, TrainingArguments  # noqa: E402

import common  # noqa: E402
from common import LandmarkDataset, Tee, case_dir, data_for, freeze, landmark_metrics, recipe, selected  # noqa: E402


class HFDataset(torch.utils.data.Dataset):
    def __init__(self, base: LandmarkDataset):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        item = self.base[i]
        return {"image": item["image"], "labels": item["target"], "index": torch.tensor(item["index"])}


class LandmarkModel(nn.Module):
    def __init__(self, task, freeze_backbone=False):
        super().__init__()
        self.task = task
        net = task.build()
        self.backbone, self.head, self.net = net.backbone, net.head, net
        if freeze_backbone:
            freeze(self.backbone)

    def forward(self, image, labels=None, index=None):
        if self.task.kind == "sequence":
            tf = self.net(image, teacher=labels) if labels is not None else None
            logits = tf if self.training else self.net(image)  # evaluation decodes on its own predictions
            loss = self.task.criterion(tf, labels) if labels is not None else None
        else:
            logits = self.net(image)
            loss = self.task.criterion(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits, "index": index}


def metrics_for(task, val, names):
    def compute_metrics(eval_pred):
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, tuple):
            logits, index = logits[0], logits[1]
        else:
            index = np.arange(len(val))
        out = {}
        if task.kind == "heatmap":
            coords, peak = task.decode_heatmaps(torch.from_numpy(logits))
            pred = coords * task.stride * common.RESIZE
            out["hm_max"] = float(np.median(peak))
        else:
            pred = logits * np.array([common.ORIG_W, common.ORIG_H])
        if task.kind == "sequence":
            out["ar_loss"] = float(task.criterion(torch.from_numpy(logits), torch.from_numpy(labels)))
        m = landmark_metrics(pred, val.landmarks[index])
        out.update(nme=m["nme"], pck=m["pck"], mre_mm=m["mre_mm"])
        return {k: v for k, v in out.items() if k in names}
    return compute_metrics


def train(name, plan, metric_names=("nme", "pck", "mre_mm"), eval_steps=None, report_to="none", capture=False,
          max_grad_norm=1.0, print_trainable=False):
    path = case_dir(name)
    common.seed_everything(plan.seed)
    train_split, val = data_for(plan)
    plan.task.k = len(train_split.names)
    plan.task.__post_init__()
    model = LandmarkModel(plan.task, plan.freeze_backbone)
    args = TrainingArguments(
        output_dir=str(path / "outputs"), num_train_epochs=plan.epochs, learning_rate=plan.lr,
        per_device_train_batch_size=plan.batch_size, per_device_eval_batch_size=16,
        eval_strategy="steps" if eval_steps else "epoch", eval_steps=eval_steps, logging_strategy="steps",
        logging_steps=plan.log_every, save_strategy="no", report_to=report_to, seed=plan.seed,
        lr_scheduler_type="cosine" if plan.schedule == "cosine" else "constant", warmup_steps=0, max_grad_norm=max_grad_norm, use_cpu=True,
        dataloader_num_workers=0, remove_unused_columns=False, label_names=["labels"], disable_tqdm=True,
        weight_decay=0.0)
    optimizers = (None, None)
    if plan.optimizer == "sgd":
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=plan.lr, momentum=0.9)
        optimizers = (optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0))
    trainer = Trainer(model=model, args=args,
                      train_dataset=HFDataset(LandmarkDataset(train_split, plan.task, plan.inplace_drift, plan.seed)),
                      eval_dataset=HFDataset(LandmarkDataset(val, plan.task)),
                      compute_metrics=metrics_for(plan.task, val, metric_names), optimizers=optimizers)

    def go():
        if print_trainable:  # the PEFT-style line people print before fine-tuning
            trainable, total = common.parameter_counts(model)
            print(f"trainable params: {trainable:,} || all params: {total:,} || trainable%: {100 * trainable / total:.4f}")
        trainer.train()
        trainer.save_state()

    if capture:
        with Tee(path / "train_stdout.txt"):
            go()
    else:
        go()


def hf_healthy():
    train("hf_healthy", recipe("healthy_regression"))


def hf_steps_overfit():
    train("hf_steps_overfit", recipe("overfit_heatmap"), eval_steps=8, metric_names=("nme", "pck"))


def hf_diverged():
    train("hf_diverged", recipe("diverged_heatmap", log_every=1), max_grad_norm=0.0)


def hf_exposure():
    train("hf_exposure", recipe("exposure"), metric_names=("ar_loss", "nme"))


def hf_frozen():
    train("hf_frozen", recipe("frozen_regression"), capture=True, print_trainable=True)


def hf_sigma_small():
    train("hf_sigma_small", recipe("sigma_small"), metric_names=("nme", "hm_max"), report_to="tensorboard")


CASES = {f.__name__: f for f in (hf_healthy, hf_steps_overfit, hf_diverged, hf_exposure, hf_frozen, hf_sigma_small)}

if __name__ == "__main__":
    for name in selected(CASES):
        CASES[name]()
        print("wrote", name, flush=True)
