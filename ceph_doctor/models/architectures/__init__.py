"""The image architectures, one module each: adding one is adding a file here (and its test).

Each module defines `DEFAULT_STRIDE`, `STRIDES` (the output strides it can predict at) and
`build(num_landmarks, *, in_channels, width, channels, stride) -> nn.Module`, a heatmap model with a
`backbone` and a `head` (see `models/build.py` for the interface the trainer relies on). The config
schema's `model.arch` choices are the module names.
"""

from __future__ import annotations

from ceph_doctor.models.registry import Registry

_REGISTRY = Registry(__name__, "model arch")
names, get = _REGISTRY.names, _REGISTRY.get
