"""The training losses, one module each, chosen by `model.loss` (`auto`: the head's `DEFAULT_LOSS`).

Each module defines
    OUTPUT                          the head output it compares: "heatmaps" or "points"
    loss(pred, target, weights)     a scalar tensor; `weights` (B, K) is 0 for a landmark without truth
and may define
    UNITS                           "input px": points reach it in input pixels, not in [0, 1] of the image
                                    (for losses whose published constants are pixels, e.g. Wing's w = 10)
"""

from __future__ import annotations

from ceph_doctor.models.registry import Registry

_REGISTRY = Registry(__name__, "model loss")
names, get = _REGISTRY.names, _REGISTRY.get
