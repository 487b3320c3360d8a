"""Keras 3 on the torch backend (KERAS_BACKEND=torch): the shared PyTorch model wrapped in
keras.layers.TorchModuleWrapper, model.fit with a CSVLogger (`epoch,loss,mean_radial_error,val_loss,
val_mean_radial_error`) and the console's `Epoch 3/50 ... loss: ... - val_loss: ...` lines captured.
python tests/corpus/generate/with_keras.py [case ...]
"""

from __future__ import annotations

import os
import warnings

os.environ["KERAS_BACKEND"] = "torch"
warnings.filterwarnings("ignore")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import common  # noqa: E402
from common import Tee, case_dir, data_for, recipe, selected  # noqa: E402


def radial_error_metric(task):
    scale = torch.tensor([common.ORIG_W, common.ORIG_H], dtype=torch.float32)

    def mean_radial_error(y_true, y_pred):
        """Mean distance between predicted and true landmarks, original-image pixels."""
        if task.kind == "heatmap":
            def decode(h):
                n, k, hh, ww = h.shape
                idx = h.reshape(n, k, -1).argmax(-1)
                return torch.stack([(idx % ww).float(), (idx // ww).float()], -1) * task.stride * common.RESIZE
            return torch.linalg.norm(decode(y_pred.detach()) - decode(y_true), dim=-1).mean()
        return torch.linalg.norm((y_pred.detach() - y_true) * scale, dim=-1).mean()

    return mean_radial_error


def fit(name, plan, log_name="training.log"):
    path = case_dir(name)
    keras.utils.set_random_seed(plan.seed)
    common.seed_everything(plan.seed)
    train, val = data_for(plan)
    plan.task.k = len(train.names)
    plan.task.__post_init__()
    net = plan.task.build()
    model = keras.Sequential([keras.Input(shape=(1, common.IN_H, common.IN_W)), keras.layers.TorchModuleWrapper(net)])
    lr = plan.lr
    if plan.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(plan.lr, decay_steps=plan.epochs * -(-plan.n_train // plan.batch_size))
    optimizer = (keras.optimizers.SGD(learning_rate=lr, momentum=0.9) if plan.optimizer == "sgd"
                 else keras.optimizers.Adam(learning_rate=lr))
    model.compile(optimizer=optimizer, loss="mse", metrics=[radial_error_metric(plan.task)])
    x, y = train.images, plan.task.targets(train.landmarks).numpy()
    xv, yv = val.images, plan.task.targets(val.landmarks).numpy()
    with Tee(path / "console.txt"):
        print(f"lr={plan.lr} batch_size={plan.batch_size} epochs={plan.epochs} n_train={plan.n_train} "
              f"image_size={common.ORIG_W}x{common.ORIG_H}")
        model.fit(x, y, validation_data=(xv, yv), epochs=plan.epochs, batch_size=plan.batch_size, shuffle=True,
                  verbose=2, callbacks=[keras.callbacks.CSVLogger(str(path / log_name))])


def keras_healthy():
    fit("keras_healthy", recipe("healthy_regression"))


def keras_overfit():
    fit("keras_overfit", recipe("overfit_heatmap"), log_name="history.csv")


def keras_diverged():
    fit("keras_diverged", recipe("diverged_heatmap"))


def keras_underfit():
    fit("keras_underfit", recipe("underfit_heatmap"))


def keras_plateau():
    fit("keras_plateau", recipe("plateau_regression"))


CASES = {f.__name__: f for f in (keras_healthy, keras_overfit, keras_diverged, keras_underfit, keras_plateau)}

if __name__ == "__main__":
    for name in selected(CASES):
        CASES[name]()
        print("wrote", name, flush=True)
