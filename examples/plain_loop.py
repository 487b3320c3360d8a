"""The Recorder in a hand-written PyTorch loop.

A tiny heatmap model learns the 19 ISBI landmarks on built-in synthetic
cephalograms, and five kinds of Recorder call (marked `# Recorder`) write a
run directory that ceph-doctor can diagnose:

    python examples/plain_loop.py --out runs/plain
    ceph-doctor analyze runs/plain            # or: ceph_doctor.load_run("runs/plain")

It takes a few seconds on a CPU. Copy the Recorder lines into your own loop.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

from ceph_doctor.codec import HeatmapCodec
from ceph_doctor.data.synthetic import synthetic_split
from ceph_doctor.metrics import landmark_metrics
from ceph_doctor.train.gradients import UpdateRatio, gradient_norms
from ceph_doctor.train.recorder import Recorder

# Images are rendered at the input size, so input pixels are original-image pixels.
WIDTH, HEIGHT, STRIDE, SIGMA = 64, 80, 4, 1.5


class TinyHeatmapNet(nn.Module):
    """One heatmap per landmark at 1/STRIDE resolution.

    `backbone` and `head` are top-level children on purpose: gradient norms and
    update ratios are recorded per top-level module, which is how a frozen or
    starved part of the network shows up.
    """

    def __init__(self, num_landmarks: int, channels: int = 16):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(1, channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * channels, 2 * channels, 3, padding=1), nn.ReLU(),
        )
        self.head = nn.Conv2d(2 * channels, num_landmarks, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


def as_tensors(split, codec: HeatmapCodec) -> dict:
    records = split.records
    images = np.stack([r.image for r in records]).astype(np.float32)[:, None] / 255.0
    landmarks = np.stack([r.landmarks for r in records])
    return {
        "image_ids": [r.image_id for r in records],
        "images": torch.from_numpy(images),
        "heatmaps": torch.from_numpy(np.stack([codec.encode(points)[0] for points in landmarks])),
        "landmarks": landmarks,
        "spacing_mm": np.array([r.spacing_mm for r in records], np.float32),
    }


@torch.no_grad()
def predict(model: nn.Module, data: dict, codec: HeatmapCodec) -> dict:
    model.eval()
    heatmaps = model(data["images"])
    model.train()
    decoded = codec.decode(heatmaps)
    return {
        "pred": decoded.coords.numpy(),
        "peak": decoded.peak.numpy(),
        "width": decoded.width.numpy(),
        "loss": float(nn.functional.mse_loss(heatmaps, data["heatmaps"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="run directory to write")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--log-every", type=int, default=2, help="record training scalars every N steps")
    args = parser.parse_args()

    torch.manual_seed(0)
    codec = HeatmapCodec((WIDTH, HEIGHT), STRIDE, SIGMA)
    train_set = synthetic_split(seed=0, split="train", count=16, width=WIDTH, height=HEIGHT)
    train = as_tensors(train_set, codec)
    val = as_tensors(synthetic_split(seed=0, split="val", count=6, width=WIDTH, height=HEIGHT), codec)
    # The same few training images at every validation: their error next to val's is the overfitting gap.
    train_subset = {key: value[:4] for key, value in train.items()}

    model = TinyHeatmapNet(len(train_set.names))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    # Canonical config keys (see DESIGN.md), so a diagnosis's fix names a setting of this script.
    config = {
        "data": {"source": "synthetic", "batch_size": args.batch_size, "input_size": [WIDTH, HEIGHT]},
        "optimizer": {"name": "adam", "lr": args.lr, "weight_decay": 0.0},
        "codec": {"sigma": SIGMA, "stride": STRIDE},
        "train": {"max_epochs": args.epochs, "val_interval": 1, "log_every": args.log_every},
    }

    recorder = Recorder(args.out, every_n_steps=args.log_every)  # Recorder
    recorder.start(config=config, landmarks=train_set.names, pixel_spacing_mm=float(val["spacing_mm"][0]))  # Recorder
    update_ratio = UpdateRatio()
    step = 0
    try:
        for epoch in range(1, args.epochs + 1):
            order = torch.randperm(len(train["images"]))
            for batch in order.split(args.batch_size):
                loss = nn.functional.mse_loss(model(train["images"][batch]), train["heatmaps"][batch])
                optimizer.zero_grad()
                loss.backward()
                recording = (step + 1) % args.log_every == 0
                if recording:  # gradients are final here; the snapshot measures what the step changes
                    grads = gradient_norms(model)
                    update_ratio.before(model)
                optimizer.step()
                step += 1
                if recording:
                    recorder.log_step(  # Recorder
                        step, epoch, loss.item(), lr=optimizer.param_groups[0]["lr"], model=model,
                        extra={**grads, **update_ratio.after(model)},
                    )

            measured = {}
            for split, data in (("val", val), ("train", train_subset)):
                out = predict(model, data, codec)
                metrics = landmark_metrics(out["pred"], data["landmarks"], data["spacing_mm"]).overall
                scalars = {f"{split}/{name}": value for name, value in metrics.items()}
                scalars[f"{split}/loss" if split == "val" else f"{split}/eval_loss"] = out["loss"]
                measured.update(scalars)
                recorder.log_validation(  # Recorder
                    epoch, step, data["image_ids"], out["pred"], data["landmarks"], data["spacing_mm"],
                    split=split, peak=out["peak"], width=out["width"], scalars=scalars,
                )
            recorder.commit_validation(epoch)  # Recorder: this validation's rows appear at once, whole
            print(f"epoch {epoch}: mre_mm val {measured['val/mre_mm']:.2f}, train {measured['train/mre_mm']:.2f}")
    except BaseException:
        recorder.close("failed")  # Recorder
        raise
    recorder.close("completed")  # Recorder
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
