"""The single-image overfit check: train a pipeline on one image, then find the stage where it breaks.

    from ceph_doctor.sanity import overfit_check, ConfiguredPipeline
    report = overfit_check(ConfiguredPipeline(load_config()), steps=300)

A pipeline of your own plugs in through the `CheckablePipeline` protocol (see `pipeline.py`).
"""

from ceph_doctor.sanity.overfit import DEFAULT_STEPS, SanityReport, overfit_check
from ceph_doctor.sanity.pipeline import CheckablePipeline, ConfiguredPipeline
from ceph_doctor.sanity.evidence import Evidence, StageResult

__all__ = [
    "DEFAULT_STEPS", "CheckablePipeline", "ConfiguredPipeline", "Evidence", "SanityReport", "StageResult", "overfit_check",
]
