"""How autoregressive decoding time grows with the number of landmarks, with and without the cache.

Builds the configured sequence decoder (default: the U-Net backbone, dim 64, 2 layers) for 19,
38 and 76 landmarks, encodes one batch of images once, then times decoding all K landmarks one
after another:

  cached:    each step attends to the keys and values kept from the steps before (what inference runs);
  re-run:    each step re-runs the whole prefix (a decoder without a cache).

Linear growth doubles the time when K doubles (×2, ×4 at 38, 76); quadratic growth quadruples it
(×4, ×16). Prints the best of REPEATS for each, and the ratios against K = 19.

    python benchmarks/ar_inference.py [--batch 8] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch

from ceph_doctor.config import load_config
from ceph_doctor.models import build_model

COUNTS = (19, 38, 76)


def best_time(repeats: int, work, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        work()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    config = load_config(None, ["model.head=sequence"])
    width, height = config["data"]["input_size"]
    torch.manual_seed(0)
    images = torch.randn(args.batch, 1, height, width, device=device)
    rows = []
    with torch.no_grad():
        for count in COUNTS:
            model = build_model("unet", count, channels=config["model"]["channels"], head="sequence",
                                head_settings=config["model"]["sequence"]).to(device).eval()
            memory = model.memory(images)
            cached = model.head.generate(memory, args.batch)
            rerun = model.head.generate(memory, args.batch, cache=False)
            assert torch.allclose(cached, rerun, atol=1e-5), "the cache changed the decoded points"
            rows.append((
                count,
                best_time(args.repeats, lambda: model.head.generate(memory, args.batch), device),
                best_time(args.repeats, lambda: model.head.generate(memory, args.batch, cache=False), device),
            ))
    print(f"batch {args.batch}, input {width}x{height}, {device}; decoding only (the image is encoded once)")
    print(f"{'landmarks':>10} {'cached ms':>10} {'x vs 19':>8} {'re-run ms':>10} {'x vs 19':>8}")
    base_cached, base_rerun = rows[0][1], rows[0][2]
    for count, cached, rerun in rows:
        print(f"{count:>10} {cached * 1e3:>10.1f} {cached / base_cached:>8.2f} {rerun * 1e3:>10.1f} "
              f"{rerun / base_rerun:>8.2f}")
    print("linear growth: x2.00 and x4.00; quadratic: x4.00 and x16.00")


if __name__ == "__main__":
    main()
