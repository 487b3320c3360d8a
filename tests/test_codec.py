"""HeatmapCodec: targets, the coordinate convention and DARK decoding."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ceph_doctor.codec import DecodedLandmarks, HeatmapCodec

HEATMAP_W, HEATMAP_H = 64, 80


def make_codec(stride: int = 2, sigma: float = 2.0) -> HeatmapCodec:
    return HeatmapCodec((HEATMAP_W * stride, HEATMAP_H * stride), stride=stride, sigma=sigma)


def argmax_xy(heatmaps: torch.Tensor) -> np.ndarray:
    """Plain integer argmax in heatmap px, (B, K, 2) x, y: the baseline DARK must beat."""
    b, k, h, w = heatmaps.shape
    index = heatmaps.reshape(b, k, h * w).argmax(dim=-1)
    return torch.stack((index % w, index // w), dim=-1).numpy().astype(np.float64)


def test_heatmap_size_is_input_over_stride_rounded_up():
    assert HeatmapCodec((128, 160), stride=2, sigma=2).heatmap_size == (64, 80)
    assert HeatmapCodec((130, 161), stride=4, sigma=2).heatmap_size == (33, 41)
    assert HeatmapCodec((128, 160), stride=1, sigma=2).heatmap_size == (128, 160)


def test_encode_shapes_dtypes_and_gaussian_values():
    codec = make_codec(stride=2, sigma=2.0)
    # Input (20, 30) is heatmap (10, 15) exactly: the peak pixel holds 1.0.
    heatmaps, weights = codec.encode(np.array([[20.0, 30.0], [41.0, 61.0]]))
    assert heatmaps.shape == (2, HEATMAP_H, HEATMAP_W) and heatmaps.dtype == np.float32
    assert weights.dtype == np.float32 and weights.tolist() == [1.0, 1.0]
    assert heatmaps[0, 15, 10] == pytest.approx(1.0)
    assert heatmaps[0].max() == pytest.approx(1.0)
    # One heatmap pixel away: exp(-1 / (2 sigma^2)); diagonal: exp(-2 / (2 sigma^2)).
    assert heatmaps[0, 15, 11] == pytest.approx(math.exp(-1 / 8), rel=1e-6)
    assert heatmaps[0, 16, 11] == pytest.approx(math.exp(-2 / 8), rel=1e-6)
    # (41, 61) is heatmap (20.5, 30.5): four pixels tie at exp(-0.5 / 8).
    assert heatmaps[1, 30:32, 20:22] == pytest.approx(np.full((2, 2), math.exp(-0.5 / 8)), rel=1e-6)


def test_missing_landmark_has_zero_weight_and_zero_heatmap():
    codec = make_codec()
    heatmaps, weights = codec.encode(np.array([[40.0, 50.0], [np.nan, np.nan], [np.nan, 20.0]]))
    assert weights.tolist() == [1.0, 0.0, 0.0]
    assert not heatmaps[1].any() and not heatmaps[2].any()
    assert heatmaps[0].max() == pytest.approx(1.0)


def test_out_of_bounds_landmark_has_zero_weight():
    codec = make_codec(stride=2)  # input 128 x 160, spanning [-0.5, 127.5] x [-0.5, 159.5]
    points = np.array([[-1.0, 50.0], [128.0, 50.0], [60.0, 160.0], [60.0, -3.0], [127.5, 159.5], [-0.5, 0.0]])
    heatmaps, weights = codec.encode(points)
    assert weights.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    assert not heatmaps[:4].any()


def test_encode_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        make_codec().encode(np.zeros((3, 3)))


def test_encode_is_fast():
    codec = make_codec(stride=2)
    points = np.random.default_rng(0).uniform(0, 127, size=(19, 2))
    codec.encode(points)
    timings = []
    for _ in range(50):
        start = time.perf_counter()
        codec.encode(points)
        timings.append(time.perf_counter() - start)
    assert np.median(timings) < 1e-3


@settings(max_examples=150, deadline=None)
@given(
    sigma=st.floats(1.5, 3.0),
    stride=st.sampled_from([1, 2, 4]),
    fraction=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_round_trip_is_sub_pixel_exact_away_from_border(sigma, stride, fraction):
    codec = make_codec(stride=stride, sigma=sigma)
    margin = math.ceil(3 * sigma) + 2
    span = np.array([HEATMAP_W - 1 - 2 * margin, HEATMAP_H - 1 - 2 * margin])
    heatmap_xy = margin + np.array(fraction) * span
    heatmaps, _ = codec.encode((heatmap_xy * stride)[None])
    batch = torch.from_numpy(heatmaps)[None]
    decoded = codec.decode(batch)

    refined_error = np.linalg.norm(decoded.coords[0, 0].numpy() / stride - heatmap_xy)
    argmax_error = np.linalg.norm(argmax_xy(batch)[0, 0] - heatmap_xy)
    assert refined_error < 0.1
    assert refined_error <= argmax_error + 1e-4


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_refinement_beats_plain_argmax(stride):
    codec = make_codec(stride=stride, sigma=2.0)
    rng = np.random.default_rng(stride)
    heatmap_xy = rng.uniform(10, [HEATMAP_W - 11, HEATMAP_H - 11], size=(200, 2))
    heatmaps, _ = codec.encode(heatmap_xy * stride)
    batch = torch.from_numpy(heatmaps)[None]

    refined = np.linalg.norm(codec.decode(batch).coords[0].numpy() / stride - heatmap_xy, axis=1)
    plain = np.linalg.norm(argmax_xy(batch)[0] - heatmap_xy, axis=1)
    assert refined.max() < 0.01
    assert plain.mean() > 0.3  # a uniform sub-pixel offset averages ~0.38 px
    # With a noisy network-like output the blur-then-Newton step still wins.
    noisy = batch + 0.02 * torch.randn(batch.shape, generator=torch.Generator().manual_seed(0))
    refined_noisy = np.linalg.norm(codec.decode(noisy).coords[0].numpy() / stride - heatmap_xy, axis=1)
    assert refined_noisy.mean() < 0.5 * np.linalg.norm(argmax_xy(noisy)[0] - heatmap_xy, axis=1).mean()


def test_points_near_the_border_are_still_refined():
    # Argmax one pixel from the edge: the blur window leaves the map, the stencil does not.
    codec = make_codec(stride=1, sigma=3.0)
    heatmap_xy = np.array([[1.3, 40.2], [61.6, 1.4], [30.7, 78.2]])
    heatmaps, _ = codec.encode(heatmap_xy)
    decoded = codec.decode(torch.from_numpy(heatmaps)[None])
    assert np.abs(decoded.coords[0].numpy() - heatmap_xy).max() < 0.05


@settings(max_examples=100, deadline=None)
@given(sigma=st.floats(1.5, 3.0), depth=st.floats(0.0, 8.0), along=st.floats(0.2, 0.8), edge=st.integers(0, 3))
def test_a_clean_peak_is_exact_however_near_the_border(sigma, depth, along, edge):
    """Where the blur window leaves the map, the fitted Gaussian uses only the pixels there are."""
    codec = make_codec(stride=1, sigma=sigma)
    x = [depth, HEATMAP_W - 1 - depth, along * (HEATMAP_W - 1), along * (HEATMAP_W - 1)][edge]
    y = [along * (HEATMAP_H - 1), along * (HEATMAP_H - 1), depth, HEATMAP_H - 1 - depth][edge]
    heatmaps, _ = codec.encode(np.array([[x, y]]))
    decoded = codec.decode(torch.from_numpy(heatmaps)[None]).coords[0, 0].numpy()
    assert np.abs(decoded - [x, y]).max() < 1e-3


def test_a_wide_peak_is_refined_further_than_a_pixel_from_its_argmax():
    """Noise can move a wide peak's argmax more than a pixel off; the Newton step is bounded by the peak's
    width, not by one pixel."""
    codec = make_codec(stride=1, sigma=3.0)
    heatmaps, _ = codec.encode(np.array([[30.3, 40.0]]))
    heatmaps[0, 40, 32] += 0.2  # a one-pixel spike 1.7 px away becomes the argmax
    batch = torch.from_numpy(heatmaps)[None]
    assert argmax_xy(batch)[0, 0].tolist() == [32, 40]
    decoded = codec.decode(batch).coords[0, 0].numpy()
    assert abs(decoded[0] - 32) > 1.0  # stepped further than a pixel, back toward the Gaussian
    assert np.linalg.norm(decoded - [30.3, 40.0]) < 0.5


def test_degenerate_maps_near_the_border_decode_without_error():
    """What an untrained or collapsed network outputs: the border fit must give up quietly, not raise."""
    codec = make_codec(stride=1, sigma=2.0)
    maps = torch.zeros(1, 10, HEATMAP_H, HEATMAP_W)
    maps[0, 1] = 1.0  # flat
    maps[0, 2] = 1e30  # huge
    maps[0, 3] = -torch.rand(HEATMAP_H, HEATMAP_W, generator=torch.Generator().manual_seed(0))
    maps[0, 4, 0, 0] = 1.0  # a single corner spike
    maps[0, 5, :, 0] = 1.0  # a line along the edge
    maps[0, 6, 0, :3] = torch.tensor([1.0, 1e-8, 1.0])  # two peaks either side of a hole
    maps[0, 7, 1, 1] = 5.0
    maps[0, 7] += 0.5 * torch.rand(HEATMAP_H, HEATMAP_W, generator=torch.Generator().manual_seed(1))
    maps[0, 8] = torch.nan  # a diverged model
    maps[0, 9, 2, 2], maps[0, 9, 5, 5] = torch.inf, torch.nan
    decoded = codec.decode(maps)
    finite = decoded.coords[0, :8]
    assert torch.isfinite(finite).all()
    assert ((finite[..., 0] >= -0.5) & (finite[..., 0] <= HEATMAP_W - 0.5)).all()
    assert torch.isnan(decoded.coords[0, 8]).all()


def test_decode_batch_shapes_and_each_item_decodes_its_own_points():
    codec = make_codec(stride=4, sigma=2.0)
    rng = np.random.default_rng(1)
    points = rng.uniform(40, 200, size=(3, 19, 2))  # input px, well inside 256 x 320
    batch = torch.from_numpy(np.stack([codec.encode(p)[0] for p in points]))
    decoded = codec.decode(batch)

    assert isinstance(decoded, DecodedLandmarks)
    assert decoded.coords.shape == (3, 19, 2) and decoded.coords.dtype == torch.float32
    assert decoded.peak.shape == (3, 19) and decoded.width.shape == (3, 19)
    np.testing.assert_allclose(decoded.coords.numpy(), points, atol=0.05)


def test_width_matches_sigma_and_peak_is_the_raw_maximum():
    # Sampling a narrow Gaussian on the pixel grid costs a few % at sigma 1.
    for sigma, tolerance in ((1.0, 0.05), (1.5, 0.02), (2.0, 0.02), (3.0, 0.02)):
        codec = make_codec(stride=2, sigma=sigma)
        points = np.random.default_rng(2).uniform(40, 80, size=(50, 2))
        heatmaps, _ = codec.encode(points)
        decoded = codec.decode(torch.from_numpy(heatmaps)[None])
        np.testing.assert_allclose(decoded.width[0].numpy(), sigma, rtol=tolerance)
        np.testing.assert_allclose(decoded.peak[0].numpy(), heatmaps.reshape(50, -1).max(axis=1))


def test_width_reads_a_wider_peak_as_wider():
    narrow, wide = make_codec(sigma=1.5), make_codec(sigma=3.0)
    heatmaps, _ = wide.encode(np.array([[60.0, 80.0]]))
    assert narrow.decode(torch.from_numpy(heatmaps)[None]).width.item() == pytest.approx(3.0, rel=0.03)


def test_non_finite_or_empty_maps_give_nan_not_garbage():
    codec = make_codec()
    nan_maps = torch.full((1, 2, HEATMAP_H, HEATMAP_W), float("nan"))
    assert torch.isnan(codec.decode(nan_maps).coords).all()
    assert torch.isnan(codec.decode(torch.zeros(1, 2, HEATMAP_H, HEATMAP_W)).width).all()
    assert codec.decode(torch.zeros(0, 19, HEATMAP_H, HEATMAP_W)).coords.shape == (0, 19, 2)


def test_decode_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"\(B, K, h, w\)"):
        make_codec().decode(torch.zeros(19, HEATMAP_H, HEATMAP_W))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_decode_on_cuda_matches_cpu():
    codec = make_codec(stride=2, sigma=2.0)
    points = np.random.default_rng(3).uniform(20, 100, size=(4, 19, 2))
    batch = torch.from_numpy(np.stack([codec.encode(p)[0] for p in points]))
    batch = batch + 0.01 * torch.randn(batch.shape, generator=torch.Generator().manual_seed(0))
    on_cpu, on_cuda = codec.decode(batch), codec.decode(batch.cuda())
    assert on_cuda.coords.device.type == "cuda"
    for cpu_value, cuda_value in zip(on_cpu, on_cuda):
        torch.testing.assert_close(cuda_value.cpu(), cpu_value, atol=1e-4, rtol=1e-4, equal_nan=True)


def test_the_border_fit_gives_up_on_a_window_a_diverged_run_produced():
    """A real window (a model diverging at a high lr, its map a plane rising to the edge) on which an
    undamped Gauss-Newton step met an exactly singular system: now reported as not converged."""
    from pathlib import Path

    from ceph_doctor.codec.gaussian_fit import fit_gaussian

    window, inside = np.load(Path(__file__).parent / "fixtures" / "diverged_border_window.npy")
    offset, converged = fit_gaussian(torch.from_numpy(window)[None], torch.from_numpy(inside)[None], sigma=2.0)
    assert not converged.item() and torch.isfinite(offset).all()
