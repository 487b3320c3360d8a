"""Signals of a multitask run: how much of the gradient in the shared backbone each task sends.

The trainer logs, every few steps, the norm of what the landmark loss and the auxiliary task's loss
each send into the shared backbone (`grad/shared/landmarks`, `grad/shared/aux`) and the cosine between
the two (`grad/task_cosine`). When the auxiliary share is above one half, the backbone follows the
second task more than the landmarks: its features are shaped for the stage, and the landmarks pay.
Measured over the second half of the logged steps, past the first steps' transient.
"""

from __future__ import annotations

import numpy as np

from ceph_doctor.signals.base import (
    MissingInput, NotApplicable, PartNotSeen, Signal, part_unseen, signal_family, switched_off,
)
from ceph_doctor.signals.series import by_step
from ceph_doctor.store.meaning import parse
from ceph_doctor.store.reader import Run


@signal_family("tasks", provides=("tasks.aux_share", "tasks.cosine", "tasks.steps", "tasks.aux_label"))
def task_signals(run: Run):
    if switched_off(run, "model.aux.label", lambda label: label is None):
        raise NotApplicable("the model has no second task (model.aux.label)")
    if part_unseen(run, lambda tag: tag.startswith("grad/shared/") or "aux" in parse(tag).subject):
        raise PartNotSeen("a second task", "what each task sends into the shared backbone (grad/shared/<task>) "
                          "on several steps")
    aux, landmarks = by_step(run, "grad/shared/aux"), by_step(run, "grad/shared/landmarks")
    if len(aux) < 4 or len(landmarks) < 4:
        raise MissingInput("what each task sends into the shared backbone (grad/shared/<task>) on several steps")
    steps, in_aux, in_landmarks = np.intersect1d(aux.at, landmarks.at, return_indices=True)
    late = slice(len(steps) // 2, None)
    aux_norms, landmark_norms = aux.values[in_aux][late], landmarks.values[in_landmarks][late]
    total = aux_norms + landmark_norms
    share = float(np.median(aux_norms[total > 0] / total[total > 0])) if (total > 0).any() else np.nan
    epoch = int(run.scalars["epoch"].max())
    yield Signal("tasks.aux_share", share, "share", epoch,
                 "median over the second half of logged steps of the auxiliary task's share of the backbone gradient")
    cosine = by_step(run, "grad/task_cosine")
    if len(cosine):
        yield Signal("tasks.cosine", float(np.median(cosine.values[len(cosine) // 2:])), "", epoch,
                     "median cosine between the two tasks' backbone gradients (below 0: they pull apart)")
    yield Signal("tasks.steps", int(len(steps) - len(steps) // 2), "steps", epoch)
    label = (((run.manifest.get("config") or {}).get("model") or {}).get("aux") or {}).get("label")
    if label:
        yield Signal("tasks.aux_label", str(label), "", epoch)
