"""ceph-doctor's DARK decoding against MMPose's `refine_keypoints_dark`, on the same heatmaps.

Heatmaps are Gaussians at random sub-pixel positions, of sigma 0.7, 1, 2 and 3, clean or with Gaussian
noise (0.05, 0.1 of the peak), either well inside the map or 2.5–6 px from an edge. Both decoders get
exactly the same maps; the error is the distance to the true centre in heatmap px (mean over the
maps). MMPose is given the blur kernel its configs pair with each sigma (11 for 2, 17 for 3).

MMPose's two functions are read from its published wheel, never copied into the project:

    pip download mmpose==1.3.2 --no-deps -d wheels/
    python benchmarks/dark_decoder.py --mmpose-wheel wheels/mmpose-1.3.2-py2.py3-none-any.whl

Without a wheel (or an installed mmpose) it prints ceph-doctor's errors beside MMPose's figures
measured earlier on the same cases. `--count N` maps per case (default 2000), `--seed S`.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import torch

from ceph_doctor.codec import HeatmapCodec

SIZE = (48, 64)  # heatmap width, height
CASES = [  # (sigma, noise, where)
    (0.7, 0.0, "inside"), (0.7, 0.05, "inside"), (0.7, 0.1, "inside"),
    (1.0, 0.0, "inside"), (1.0, 0.05, "inside"), (1.0, 0.1, "inside"),
    (2.0, 0.0, "inside"), (2.0, 0.05, "inside"), (2.0, 0.1, "inside"),
    (3.0, 0.0, "inside"), (3.0, 0.05, "inside"), (3.0, 0.1, "inside"),
    (0.7, 0.1, "border"), (1.0, 0.1, "border"),
    (2.0, 0.0, "border"), (2.0, 0.1, "border"), (3.0, 0.0, "border"), (3.0, 0.1, "border"),
]
def mmpose_kernel(sigma: float) -> int:
    """MMPose's blur kernel for a sigma: its documented pairs (11 for sigma 2, 17 for 3) are 6·sigma - 1,
    rounded to the nearest odd size of at least 3."""
    return max(3, 2 * round((6 * sigma - 1 - 1) / 2) + 1)
MODULES = ("post_processing", "refinement")


def heatmaps(sigma: float, noise: float, where: str, count: int, rng: np.random.Generator):
    """(count, h, w) maps and their true (x, y) centres."""
    width, height = SIZE
    if where == "inside":
        centres = rng.uniform([12, 12], [width - 13, height - 13], size=(count, 2))
    else:  # 2.5–6 px from one of the four edges, anywhere along it
        along = rng.uniform(0, 1, size=count)
        depth = rng.uniform(2.5, 6.0, size=count)
        edge = rng.integers(0, 4, size=count)
        x = np.where(edge == 0, depth, np.where(edge == 1, width - 1 - depth, along * (width - 1)))
        y = np.where(edge == 2, depth, np.where(edge == 3, height - 1 - depth, along * (height - 1)))
        centres = np.stack([x, y], axis=1)
    xs, ys = np.arange(width), np.arange(height)
    maps = (np.exp(-((xs[None, None, :] - centres[:, 0, None, None]) ** 2
                     + (ys[None, :, None] - centres[:, 1, None, None]) ** 2) / (2 * sigma**2)))
    maps = maps + noise * rng.standard_normal(maps.shape)
    return maps.astype(np.float32), centres


def ours(maps: np.ndarray, sigma: float) -> np.ndarray:
    codec = HeatmapCodec(input_size=SIZE, stride=1, sigma=sigma)
    return codec.decode(torch.from_numpy(maps)[None]).coords[0].numpy().astype(np.float64)


def load_mmpose(wheel: Path | None):
    """MMPose's `refine_keypoints_dark` and `get_heatmap_maximum`, read from the wheel or the installed
    package without importing `mmpose` itself (its __init__ needs mmcv, which has no wheel here)."""
    sources = {}
    if wheel is not None:
        with zipfile.ZipFile(wheel) as archive:
            for name in MODULES:
                sources[name] = archive.read(f"mmpose/codecs/utils/{name}.py").decode()
    else:
        spec = importlib.util.find_spec("mmpose")
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(list(spec.submodule_search_locations)[0]) / "codecs" / "utils"
        sources = {name: (folder / f"{name}.py").read_text() for name in MODULES}
    package = types.ModuleType("mmpose_codecs_utils")
    package.__path__ = []
    sys.modules[package.__name__] = package
    for name in MODULES:
        module = types.ModuleType(f"{package.__name__}.{name}")
        module.__package__ = package.__name__
        sys.modules[module.__name__] = module
        exec(compile(sources[name], f"mmpose/codecs/utils/{name}.py", "exec"), module.__dict__)
    return sys.modules[f"{package.__name__}.post_processing"], sys.modules[f"{package.__name__}.refinement"]


def mmpose_decode(modules, maps: np.ndarray, sigma: float) -> np.ndarray:
    post_processing, refinement = modules
    locations, _ = post_processing.get_heatmap_maximum(maps.copy())
    keypoints = locations[None].astype(np.float64)
    return refinement.refine_keypoints_dark(keypoints, maps.copy(), blur_kernel_size=mmpose_kernel(sigma))[0]


# MMPose 1.3.2's errors on these cases (count 2000, seed 0), printed when it cannot be loaded.
RECORDED_MMPOSE: dict[tuple, float] = {
    (0.7, 0.0, "inside"): 0.03591, (0.7, 0.05, "inside"): 0.10061, (0.7, 0.1, "inside"): 0.18877,
    (1.0, 0.0, "inside"): 0.00582, (1.0, 0.05, "inside"): 0.05230, (1.0, 0.1, "inside"): 0.10496,
    (2.0, 0.0, "inside"): 0.00021, (2.0, 0.05, "inside"): 0.05044, (2.0, 0.1, "inside"): 0.10212,
    (3.0, 0.0, "inside"): 0.00005, (3.0, 0.05, "inside"): 0.04987, (3.0, 0.1, "inside"): 0.10328,
    (0.7, 0.1, "border"): 0.20179, (1.0, 0.1, "border"): 0.12260, (2.0, 0.0, "border"): 0.05071,
    (2.0, 0.1, "border"): 0.14146, (3.0, 0.0, "border"): 0.21792, (3.0, 0.1, "border"): 0.28076,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mmpose-wheel", type=Path, default=None)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    modules = load_mmpose(args.mmpose_wheel)
    source = "measured now" if modules else "recorded earlier (no mmpose wheel given)"
    print(f"mean decoding error, heatmap px; MMPose {source}; {args.count} maps per case, seed {args.seed}")
    print(f"{'sigma':>5} {'noise':>5} {'where':>7} {'argmax':>8} {'ours':>8} {'MMPose':>8} {'ours/MMPose':>12}")
    worst = 0.0
    for sigma, noise, where in CASES:
        rng = np.random.default_rng([args.seed, int(sigma * 10), int(noise * 100), len(where)])
        maps, truth = heatmaps(sigma, noise, where, args.count, rng)
        argmax = np.stack(np.unravel_index(maps.reshape(len(maps), -1).argmax(1), maps.shape[1:])[::-1], axis=1)
        plain = float(np.linalg.norm(argmax - truth, axis=1).mean())
        mine = float(np.linalg.norm(ours(maps, sigma) - truth, axis=1).mean())
        recorded = args.count == 2000 and args.seed == 0  # the recorded figures are for these maps only
        theirs = (float(np.linalg.norm(mmpose_decode(modules, maps, sigma) - truth, axis=1).mean()) if modules
                  else RECORDED_MMPOSE.get((sigma, noise, where), float("nan")) if recorded else float("nan"))
        ratio = mine / theirs if theirs > 0 else float("nan")
        worst = max(worst, ratio) if np.isfinite(ratio) else worst
        print(f"{sigma:5g} {noise:5g} {where:>7} {plain:8.4f} {mine:8.4f} {theirs:8.4f} {ratio:12.3f}")
    print(f"worst ratio ours/MMPose: {worst:.3f} (target <= 1)")


if __name__ == "__main__":
    main()
