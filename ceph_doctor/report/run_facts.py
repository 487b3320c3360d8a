"""The lines that say what run a report is about: status, length, best epoch, model, data, monitored metric."""

from __future__ import annotations

from ceph_doctor.engine.diagnosis import RunReport
from ceph_doctor.numbers import quantity
from ceph_doctor.report.values import format_value


def run_facts(report: RunReport) -> list[tuple[str, str]]:
    """The lines that say what run this is: status, length, model, data. Only what is recorded."""
    run = report.run
    manifest = getattr(run, "manifest", None) or {}
    dataset, model = manifest.get("dataset") or {}, manifest.get("model") or {}
    config = getattr(run, "config", None) or {}
    arch = (config.get("model") or {}).get("arch") if isinstance(config.get("model"), dict) else None
    data_source = (config.get("data") or {}).get("source") if isinstance(config.get("data"), dict) else None
    facts = [("source", report.source)]
    candidates = [
        ("status", _status(run, manifest.get("status"))),
        ("last", _last_epoch(run)),
        ("best", _best(run)),
        ("epochs", _counted_from_zero(run)),
        ("model", " ".join(str(p) for p in (arch, _parameters(model.get("parameters"))) if p)),
        ("data", data_source),
        ("images", _images(dataset)),
        ("landmarks", len(manifest["landmarks"]) if manifest.get("landmarks") else None),
        ("pixel spacing", _with_unit(manifest.get("pixel_spacing_mm"), "mm")),
        ("monitored metric", _monitored(run)),
    ]
    facts += [(label, str(value)) for label, value in candidates if value not in (None, "")]
    return facts


def _status(run, status: str | None) -> str | None:
    """A manifest still saying "running" is checked against its writer: it may have died without saying so. A run
    that stopped early says why (early stopping's patience, the live doctor's finding)."""
    reason = (getattr(run, "manifest", None) or {}).get("stop_reason")
    if status not in (None, "running") and isinstance(reason, str) and reason:
        return f"{status} ({reason})"
    if status != "running" or getattr(run, "source", None) != "ceph-doctor":
        return status
    from ceph_doctor.store.lock import running_status

    return running_status(run.path)


def _last_epoch(run) -> str | None:
    last = getattr(run, "last_epoch", None)
    if last is None:
        return None
    from ceph_doctor.store.monitor import epoch_label

    return epoch_label(run, int(last))


def _best(run) -> str | None:
    if run is None or getattr(run, "scalars", None) is None:
        return None
    from ceph_doctor.report.run_view import RunView

    view = RunView(run)
    if view.best is None:
        return None
    epoch, value = view.best
    from ceph_doctor.store.monitor import epoch_label, in_pixels, value_unit

    label = epoch_label(run, epoch)
    restated = in_pixels(run, value)
    pixels = f", ≈ {restated[0]:.3g} px ({restated[1]})" if restated else ""
    shown = quantity(value, value_unit(view.metric_tag, run.series(view.metric_tag).value))
    return f"{label} ({view.metric_tag} {shown}{pixels})"


def _counted_from_zero(run) -> str | None:
    """Said where the log counts epochs from 0: its epoch numbers are one less than the report's."""
    offset = getattr(run, "epoch_offset", 0)
    if not offset or getattr(run, "axis", "epoch") != "epoch":
        return None
    best = getattr(run, "monitor", None) and _best_epoch(run)
    example = f": its epoch {best - offset} is epoch {best} here" if best is not None else ""
    return f"counted from 1 here, from 0 in the log{example}"


def _best_epoch(run) -> int | None:
    from ceph_doctor.report.run_view import RunView

    return RunView(run).best_epoch


def _monitored(run) -> str | None:
    if run is None:
        return None
    from ceph_doctor.store.monitor import monitor_of

    monitor = monitor_of(run)
    if monitor is None:
        return "none: no logged name is a validation metric or loss, so nothing was judged on one"
    return f"{monitor.metric} ({'lower' if monitor.mode == 'min' else 'higher'} is better; {monitor.why})"


def _with_unit(value, unit: str) -> str | None:
    return None if value in (None, "") else f"{format_value(value)} {unit}"


def _parameters(count) -> str | None:
    if not isinstance(count, (int, float)) or not count:
        return None
    return f"({count / 1e6:.2f} M parameters)" if count >= 1e5 else f"({int(count):,} parameters)"


def _images(dataset: dict) -> str | None:
    parts = [f"{dataset[key]} {key.split('_')[0]}" for key in ("train_images", "val_images") if dataset.get(key)]
    return ", ".join(parts) or None
