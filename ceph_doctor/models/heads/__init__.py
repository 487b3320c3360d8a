"""The heads, one module each: what turns an architecture's features into landmarks.

Each module defines
    OUTPUT          "heatmaps" (B, K, h, w) or "points" (B, K, 2) in [0, 1] of the input: chooses the codec
                    that encodes targets and decodes predictions, and the losses that apply
    AUTOREGRESSIVE  whether it is fed its own previous points: it then trains teacher-forced or under
                    `train.scheduled_sampling`, is measured both ways, and takes `teacher=` and
                    `teacher_forcing=` in forward (see `models/sequence.py`)
    DEFAULT_LOSS    the `models/losses` module `model.loss: auto` means under this head
    build(heatmap_model, num_landmarks, settings) -> nn.Module
                    the model under this head, from the architecture's heatmap model; `settings` is
                    the config section named after the head (`model.sequence` for `sequence`), or {}
The model keeps the interface of `models/build.py` (`backbone`, `stride`, `check_input_size`).
"""

from __future__ import annotations

from ceph_doctor.models.registry import Registry

_REGISTRY = Registry(__name__, "model head")
names, get = _REGISTRY.names, _REGISTRY.get
