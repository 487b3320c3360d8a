"""Where one training ends and the next begins in a text log that holds several.

A job's stdout often holds more than one training: a script run twice, Lightning fits one after another,
a log appended to by each restart. A new training starts where the epoch count goes back to its first
epoch, or where Lightning's `v_num` changes; a training resumed from a checkpoint (the epochs go back,
but not to the start) is the same run.
"""

from __future__ import annotations

from ceph_doctor.importers.textlines import Line


def split_runs(lines: list[tuple[int, Line]]) -> list[list[tuple[int, Line]]]:
    """Cut where a new training starts: the epoch back at the first epoch, or a new Lightning v_num."""
    runs: list[list[tuple[int, Line]]] = []
    start, first, highest, version, last_placed = 0, None, None, None, -1
    for index, (_, line) in enumerate(lines):
        epoch = line.position.epoch
        new_version = next((v.value for v in line.values if v.name == "v_num"), None)
        restarted = (new_version is not None and version is not None and new_version != version) or (
            epoch is not None and first is not None and highest is not None and highest > first and epoch <= first
        )
        if restarted:
            cut = last_placed + 1  # the new run's banner lines (model summary…) belong to it
            runs.append(lines[start:cut])
            start, first, highest = cut, None, None
            version = None if new_version is None else version  # the new run's own v_num is still to come
        if new_version is not None:
            version = new_version
        if epoch is not None:
            first = epoch if first is None else first
            highest = epoch if highest is None else max(highest, epoch)
            last_placed = index
    runs.append(lines[start:])
    return [run for run in runs if run]
