"""How each landmark prediction is wrong: good, jitter, swap or miss; and which training labels look wrong.

After Ronchi & Perona's analysis of keypoint errors (ICCV 2017), in the terms of cephalometry, where
neighbouring points (Menton / Gnathion / Pogonion, the two incisal tips, the two lips) are easily confused:

- good:   within `GOOD_MM` of its own truth (the field's clinically acceptable radius, SDR at 2 mm);
- jitter: within `NEAR_MM` of its own truth (SDR's widest common radius): the right point, imprecisely;
- swap:   beyond `NEAR_MM` of its own truth and within `GOOD_MM` of another landmark's (in the same image):
          a prediction that would be good for that other landmark, the wrong anatomical point found well. Only
          "within GOOD_MM" keeps an imprecise prediction between two close neighbours (the incisal tips are
          4 mm apart) from counting as a swap;
- miss:   nowhere near any truth.

Runs without a pixel spacing are judged in pixels at `PX_PER_MM_WITHOUT_SPACING` (ISBI 2015's 0.1 mm per
pixel). "If fixed" counts a kind's predictions as exactly right: an upper bound of what removing that kind of
error can gain, as coco-analyze reports it.

Plain functions on arrays, so users' own inference code can call them.
"""

from __future__ import annotations

import warnings

from dataclasses import dataclass, field

import numpy as np

GOOD_MM = 2.0
NEAR_MM = 4.0
PX_PER_MM_WITHOUT_SPACING = 10.0
# A training label's error that stands out this far from the same landmark's errors elsewhere (Iglewicz and
# Hoaglin's modified z-score, on the median and the median absolute deviation) is an outlier.
OUTLIER_Z = 3.5
KINDS = ("good", "jitter", "swap", "miss")
GOOD, JITTER, SWAP, MISS = range(4)


@dataclass(frozen=True)
class Classified:
    kinds: np.ndarray  # (N, K) int8 codes into KINDS; -1 where the truth or the prediction is missing
    error: np.ndarray  # (N, K) distance to its own truth, in mm (or in px / PX_PER_MM_WITHOUT_SPACING)
    swapped_with: np.ndarray  # (N, K) index of the landmark whose truth a swap sits at; -1 otherwise
    nearest_other: np.ndarray  # (N, K) the other landmark whose truth is nearest the prediction
    nearer_other: np.ndarray  # (N, K) bool: that truth is nearer than the landmark's own


def classify(pred: np.ndarray, true: np.ndarray, mm_per_px: np.ndarray | float | None = None,
             good_mm: float = GOOD_MM, near_mm: float = NEAR_MM) -> Classified:
    """Each prediction's kind. `pred`, `true`: (N, K, 2) pixels; `mm_per_px`: per image (N,), one number, or
    None for a run without spacing."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    scale = np.full(len(pred), 1.0 / PX_PER_MM_WITHOUT_SPACING) if mm_per_px is None else \
        np.broadcast_to(np.asarray(mm_per_px, float), (len(pred),))
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0 / PX_PER_MM_WITHOUT_SPACING)
    error = np.linalg.norm(pred - true, axis=-1) * scale[:, None]
    # (N, K prediction, K truth): how far each prediction lies from every landmark's truth in its image.
    cross = np.linalg.norm(pred[:, :, None, :] - true[:, None, :, :], axis=-1) * scale[:, None, None]
    cross[:, np.arange(pred.shape[1]), np.arange(pred.shape[1])] = np.inf
    cross = np.where(np.isfinite(cross), cross, np.inf)
    nearest = np.argmin(cross, axis=2)
    other = np.take_along_axis(cross, nearest[:, :, None], axis=2)[:, :, 0]
    kinds = np.full(error.shape, MISS, np.int8)
    kinds[error <= near_mm] = JITTER
    is_swap = (error > near_mm) & (other <= good_mm)
    kinds[is_swap] = SWAP
    kinds[error <= good_mm] = GOOD
    kinds[~np.isfinite(error)] = -1
    return Classified(kinds, error, np.where(is_swap & np.isfinite(error), nearest, -1), nearest, other < error)


@dataclass(frozen=True)
class KindSummary:
    """Per landmark: the share of each kind; overall: MRE and SDR now and with each kind fixed."""

    names: list[str]
    shares: np.ndarray  # (K, 4): share of the landmark's predictions of each kind
    counts: np.ndarray  # (K,) predictions judged per landmark
    mre: float
    sdr: float  # share within GOOD_MM
    mre_if_fixed: dict[str, float]  # kind -> MRE with that kind's predictions counted exactly right
    sdr_if_fixed: dict[str, float]
    swaps: dict[tuple[str, str], list[int]]  # (landmark, the one whose truth it sat at) -> image indices


def summarise(classified: Classified, names: list[str], good_mm: float = GOOD_MM) -> KindSummary:
    kinds, error = classified.kinds, classified.error
    judged = kinds >= 0
    counts = judged.sum(axis=0)
    shares = np.stack([(kinds == code).sum(axis=0) for code in range(len(KINDS))], axis=1) / np.maximum(counts, 1)[:, None]
    values = error[judged]
    mre = float(values.mean()) if values.size else float("nan")
    sdr = float((values <= good_mm).mean()) if values.size else float("nan")
    mre_if_fixed, sdr_if_fixed = {}, {}
    for code, kind in enumerate(KINDS[1:], start=1):
        fixed = np.where(kinds == code, 0.0, error)[judged]
        mre_if_fixed[kind] = float(fixed.mean()) if fixed.size else float("nan")
        sdr_if_fixed[kind] = float((fixed <= good_mm).mean()) if fixed.size else float("nan")
    swaps: dict[tuple[str, str], list[int]] = {}
    for image, landmark in zip(*np.nonzero(kinds == SWAP)):
        pair = (names[landmark], names[classified.swapped_with[image, landmark]])
        swaps.setdefault(pair, []).append(int(image))
    return KindSummary(list(names), shares, counts, mre, sdr, mre_if_fixed, sdr_if_fixed, swaps)


@dataclass(frozen=True)
class SuspectLabels:
    """Training annotations the model keeps disagreeing with while it fits the same landmark elsewhere."""

    pairs: list[tuple[str, str]]  # (image id, landmark): the label looks wrong
    swapped: dict[tuple[str, str], list[str]]  # (landmark A, landmark B) -> images whose A and B labels look swapped
    validations: int  # how many validations were read
    images: int  # training images checked
    # (image id, landmark) of each pair -> (its label, where the models put it: the median over the validations),
    # in the image's pixels: what a picture of the suspect shows
    points: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def suspect_labels(pred: np.ndarray, true: np.ndarray, image_ids: list[str], names: list[str],
                   mm_per_px: np.ndarray | None = None, agree: float = 2 / 3) -> SuspectLabels:
    """`pred`, `true`: (V, N, K, 2) for V validations of the same N training images. Two kinds of evidence,
    each required at `agree` of the validations:

    - an outlier: the label's error is beyond `NEAR_MM` and stands out among the same landmark's errors on the
      other images (modified z-score of the log error above `OUTLIER_Z`: errors are positive and skewed, their
      logarithm nearly symmetric, so a hard image does not pass for a wrong label). A model that fits nothing
      spreads every landmark's errors wide, and none stands out;
    - a swap: A and B of one image both predicted beyond `NEAR_MM` of their labels and each nearer the other's
      label than its own. A model torn between the two labels need not make either an outlier.
    """
    runs = [classify(p, t, mm_per_px) for p, t in zip(pred, true)]
    errors = np.stack([run.error for run in runs])  # (V, N, K)
    nearest = np.stack([np.where(run.nearer_other & (run.error > NEAR_MM), run.nearest_other, -1) for run in runs])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a landmark missing from every image: no median
        logs = np.log(np.maximum(errors, 1e-3))
        median = np.nanmedian(logs, axis=1, keepdims=True)
        spread = np.nanmedian(np.abs(logs - median), axis=1, keepdims=True)
        score = 0.6745 * (logs - median) / np.maximum(spread, 1e-9)
    needed = max(1, int(np.ceil(agree * len(runs))))
    suspect = ((score > OUTLIER_Z) & (errors > NEAR_MM)).sum(axis=0) >= needed  # (N, K)
    swapped: dict[tuple[str, str], list[str]] = {}
    usual = _usual_partners(nearest, needed)
    for i, a in zip(*np.nonzero(usual > np.arange(usual.shape[1]))):  # each pair once, from its lower landmark
        partner = usual[i, a]
        if usual[i, partner] == a:
            swapped.setdefault((names[a], names[partner]), []).append(image_ids[i])
    suspect |= _swapped_mask(swapped, image_ids, names)
    found = list(zip(*np.nonzero(suspect)))
    pairs = [(image_ids[i], names[k]) for i, k in found]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a validation without the point: the others decide
        points = {(image_ids[i], names[k]): (true[-1, i, k], np.nanmedian(pred[:, i, k], axis=0)) for i, k in found}
    return SuspectLabels(pairs, swapped, len(runs), len(image_ids), points)


def _swapped_mask(swapped: dict[tuple[str, str], list[str]], image_ids: list[str], names: list[str]) -> np.ndarray:
    mask = np.zeros((len(image_ids), len(names)), bool)
    row, column = {image: i for i, image in enumerate(image_ids)}, {name: k for k, name in enumerate(names)}
    for pair, images in swapped.items():
        for image in images:
            mask[row[image], [column[pair[0]], column[pair[1]]]] = True
    return mask


def _usual_partners(nearest: np.ndarray, needed: int) -> np.ndarray:
    """(N, K) from `nearest` (V, N, K), the landmark each label was nearest to at each validation (-1: none): the
    landmark named at `needed` of the validations or more (the most named; the lowest index among equals), -1
    where none is. All images and landmarks in one count, not one count each."""
    _, images, landmarks = nearest.shape
    named = nearest >= 0
    cell = np.broadcast_to(np.arange(images * landmarks).reshape(images, landmarks), nearest.shape)
    counts = np.bincount((cell * landmarks + nearest)[named], minlength=images * landmarks * landmarks)
    counts = counts.reshape(images, landmarks, landmarks)
    return np.where(counts.max(axis=2) >= needed, counts.argmax(axis=2), -1)


def annotator_disagreement(annotations: list[np.ndarray | None], mm_per_px: list[float | None]) -> np.ndarray | None:
    """(K,) each landmark's mean distance between two annotators of one image, over the images with two or more
    (the mean over every pair of annotators where there are more), in mm where the image has a spacing and in px
    otherwise; None when no image has two annotators. NaN for a landmark no image has two marks of."""
    per_image = []
    for points, spacing in zip(annotations, mm_per_px):
        if points is None or len(points) < 2:
            continue
        pairs = [np.linalg.norm(points[a] - points[b], axis=-1)
                 for a in range(len(points)) for b in range(a + 1, len(points))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a point no pair marked: NaN, left out below
            per_image.append(np.nanmean(pairs, axis=0) * (spacing if spacing else 1.0))
    if not per_image:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(per_image), axis=0)


# ---------------------------------------------------------------------------------------------- shape model
@dataclass(frozen=True)
class ShapeModel:
    """Where landmark configurations lie: the Procrustes mean shape of a set of annotations and the principal
    modes of their variation (Cootes and Taylor's point distribution model). `unusual` scores a shape by how far
    it lies from them, so a prediction with a swapped or wandering point stands out whatever its image."""

    mean: np.ndarray  # (K, 2) centred, unit size
    modes: np.ndarray  # (M, 2K) principal directions of the aligned shapes
    variances: np.ndarray  # (M,) the variance along each mode
    residual_variance: float  # the mean variance left outside the modes, per coordinate

    def unusual(self, shapes: np.ndarray) -> np.ndarray:
        """(N,) each shape's distance from the model, as a chi-square variable with 2K - 4 degrees of freedom:
        the squared mode coefficients over their variances plus the left-over part over its variance. A shape
        with a missing point scores NaN."""
        aligned = _aligned(np.asarray(shapes, float), self.mean)
        flat = (aligned - self.mean).reshape(len(aligned), -1)
        coefficients = flat @ self.modes.T
        residual = flat - coefficients @ self.modes
        return (coefficients**2 / self.variances).sum(axis=1) + (residual**2).sum(axis=1) / self.residual_variance

    @property
    def degrees_of_freedom(self) -> int:
        return self.mean.size - 4  # two coordinates per point, less translation (2), rotation and scale


def shape_model(shapes: np.ndarray, explained: float = 0.95) -> ShapeModel:
    """A `ShapeModel` of `shapes` (N, K, 2), at least K + 1 complete ones; the modes that explain `explained` of
    the variation (Cootes and Taylor's usual choice), the rest taken as isotropic noise."""
    shapes = np.asarray(shapes, float)
    shapes = shapes[np.isfinite(shapes).all(axis=(1, 2))]
    if len(shapes) < 3:
        raise ValueError("a shape model needs three complete shapes at least")
    mean = _normalised(shapes[0])
    for _ in range(10):  # generalised Procrustes: align all to the mean, re-estimate it, until it settles
        aligned = _aligned(shapes, mean)
        updated = _normalised(aligned.mean(axis=0))
        if np.abs(updated - mean).max() < 1e-9:
            break
        mean = updated
    flat = (_aligned(shapes, mean) - mean).reshape(len(shapes), -1)
    _, singular, directions = np.linalg.svd(flat, full_matrices=False)
    variances = singular**2 / max(len(shapes) - 1, 1)
    dof = mean.size - 4
    kept = int(np.searchsorted(np.cumsum(variances) / variances.sum(), explained) + 1)
    kept = max(1, min(kept, len(variances) - 1, dof - 1))
    left = variances[kept:dof].sum() / max(dof - kept, 1)
    return ShapeModel(mean, directions[:kept], variances[:kept], float(max(left, 1e-12)))


def _normalised(shape: np.ndarray) -> np.ndarray:
    centred = shape - shape.mean(axis=0)
    return centred / np.linalg.norm(centred)


def _aligned(shapes: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each of `shapes` (N, K, 2) moved, turned and scaled onto `target` (a centred unit shape) in the
    least-squares sense (all at once: one batched SVD); a shape with a missing point comes back all NaN."""
    complete = np.isfinite(shapes).all(axis=(1, 2))
    centred = np.where(complete[:, None, None], shapes - np.nanmean(shapes, axis=1, keepdims=True), 0.0)
    u, s, vt = np.linalg.svd(np.einsum("nki,kj->nij", centred, target))
    reflected = np.linalg.det(u @ vt) < 0  # a reflection is no pose: the best proper rotation instead
    u[reflected, :, -1] *= -1
    s[reflected, -1] *= -1
    rotation = u @ vt
    scale = s.sum(axis=1) / np.maximum((centred**2).sum(axis=(1, 2)), 1e-12)
    aligned = scale[:, None, None] * centred @ rotation
    aligned[~complete] = np.nan
    return aligned
