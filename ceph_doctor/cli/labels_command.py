"""`ceph-doctor labels RUN`: the label check over the whole training set, printed or as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.text import Text

from ceph_doctor.errors import UserInputError
from ceph_doctor.printable import printable


def labels_command(run: Path, output_format: str, count: int, pictures: Path | None = None) -> None:
    from ceph_doctor.labels import annotator_check, check_labels, write_pictures

    if output_format not in ("text", "json"):
        raise UserInputError(f"--format {output_format!r}: text or json")
    with Progress(console=Console(stderr=True), transient=True) as bar:

        def progress(task: str, total: int):
            task_id = bar.add_task(task, total=total)
            return lambda done: bar.advance(task_id, done)

        check = check_labels(run, progress, count)
    found = check.result
    drawn = write_pictures(check, pictures) if pictures is not None and found.pairs else []
    annotators = annotator_check(check)
    if output_format == "json":
        apart = annotators.apart if annotators is not None else {}
        print(json.dumps({
            "run": str(check.run),
            "checkpoints": [str(path) for path in check.checkpoints],
            "images": found.images,
            "suspects": [{"image": image, "landmark": landmark,
                          **({"annotators_apart": apart[(image, landmark)]} if (image, landmark) in apart else {})}
                         for image, landmark in found.pairs],
            **({"annotators": {"unit": annotators.unit, "usual": annotators.usual}} if annotators else {}),
            "swapped": [{"landmarks": list(pair), "images": images} for pair, images in found.swapped.items()],
            **({"pictures": [str(path) for path in drawn]} if pictures is not None else {}),
        }, indent=2))
        return
    console = Console(highlight=False)
    console.print(Text(f"{printable(str(check.run))}: {found.images} training images checked against "
                       f"{len(check.checkpoints)} checkpoints ({', '.join(p.name for p in check.checkpoints)})"))
    if not found.pairs:
        console.print("no suspect label: the checkpoints agree with every label as well as with the rest")
        return
    swapped = {(image, name) for pair, images in found.swapped.items() for image in images for name in pair}
    for (a, b), images in found.swapped.items():
        console.print(Text(f"swapped {printable(a)} ↔ {printable(b)} on {len(images)} images: "
                           f"{printable(', '.join(images))}"))
    single = [(image, name) for image, name in found.pairs if (image, name) not in swapped]
    if single:
        console.print(Text(f"{len(single)} other suspect labels: "
                           + "; ".join(f"{printable(image)}: {printable(name)}" for image, name in single)))
    if annotators is not None:
        unit = annotators.unit
        console.print(Text("where the annotators put the suspect points (their usual distance for the landmark): "
                           + "; ".join(f"{printable(image)} {printable(name)} {distance:.1f} {unit} apart "
                                       f"({annotators.usual.get(name, float('nan')):.1f} {unit})"
                                       for (image, name), distance in annotators.apart.items())))
    if drawn:
        console.print(Text(f"{len(drawn)} pictures, one per suspect label: {printable(str(pictures))}"))
