"""The overfit check as a user sees it: the stage table, the verdict, and the picture of the image.

Takes a `SanityReport` (ceph_doctor.sanity) by its attributes: the report layer draws, the check judges.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from ceph_doctor.engine.fixes import describe_fix
from ceph_doctor.errors import UserInputError

STATUS_STYLES = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "skipped": "[dim]skipped[/]"}
PICTURE_WIDTH = 640  # small images are enlarged to this width so the marks stay legible


def stage_table(report, image_id: str) -> Table:
    table = Table(title=f"overfit on {image_id}: {report.steps} steps in {report.seconds:.1f} s", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("stage", ratio=2)
    table.add_column("result", no_wrap=True)
    table.add_column("evidence", ratio=3)
    for index, stage in enumerate(report.stages, 1):
        status = STATUS_STYLES[stage.status]
        if stage.after_failure and stage.passed is False:
            status += " [dim](after a failure)[/]"
        table.add_row(str(index), stage.name, status, stage.message)
    return table


def verdict_text(report) -> str:
    failure = report.first_failure
    if failure is None:
        pck = report.evidence.metric_value
        return f"[bold green]passed[/]: PCK@0.05 {pck:.1f}% on the training image; every stage checks out."
    index = report.stages.index(failure) + 1
    lines = [f"[bold red]fails at stage {index}[/] ({failure.name})", f"  likely cause: {failure.likely_cause}"]
    if failure.advice:
        lines.append(f"  fix: {failure.advice}")
    if failure.fixes:
        label = "in the config" if failure.advice else "fix"
        lines.append(f"  {label}: {'; '.join(describe_fix(fix) for fix in failure.fixes)} (--emit-config writes it)")
    if failure.diagnosis:
        lines.append(f"  more: ceph-doctor rules explain {failure.diagnosis}")
    return "\n".join(lines)


def write_picture(image, report, out: Path) -> None:
    """The image with its truth and the trained predictions, as a PNG at `out`."""
    import cv2

    from ceph_doctor.data.visualize import draw_landmarks

    truth, pred = report.evidence.truth[0], report.evidence.pred_original[0]
    zoom = max(1.0, PICTURE_WIDTH / image.shape[1])
    if zoom > 1.0:
        image = cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
        truth, pred = (truth + 0.5) * zoom - 0.5, (pred + 0.5) * zoom - 0.5
    canvas = draw_landmarks(image, truth, pred)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        written = cv2.imwrite(str(out), canvas)
    except (OSError, cv2.error):
        written = False
    if not written:
        raise UserInputError(f"--out {out}: cannot write the picture there")
