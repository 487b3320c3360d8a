"""The `ceph-doctor` command line. Thin: parse, call one function, map errors to exit codes."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.text import Text

from ceph_doctor.cli.exit_codes import ExitCode
from ceph_doctor.errors import UserInputError
from ceph_doctor.printable import printable

err_console = Console(stderr=True)


app = typer.Typer(
    name="ceph-doctor",
    help="Train landmark detectors, record what happens per landmark, and diagnose what went wrong.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    epilog="Example: ceph-doctor train --name first && ceph-doctor analyze runs/first",
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"ceph-doctor {version('ceph-doctor')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                  help="Print the version and exit."),
) -> None:
    """Options of ceph-doctor itself, before any command (the help text is the app's own)."""


CONFIG = typer.Option(None, "--config", "-c", help="YAML config file (canonical keys; defaults fill the rest).")
SET = typer.Option(None, "--set", "-s", help="Override one key, e.g. --set optimizer.lr=1e-4 (repeatable).")


@app.command(
    epilog="Example: ceph-doctor train --set train.max_epochs=10 --set optimizer.lr=1e-3 --name quick",
)
def train(
    config: Optional[Path] = CONFIG,
    set_: Optional[List[str]] = SET,
    out: Path = typer.Option(Path("runs"), "--out", help="Folder that receives the run directory."),
    name: Optional[str] = typer.Option(None, "--name", help="Run directory name (default: arch-source-time)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue this run directory from its last checkpoint."),
) -> None:
    """Train a landmark model on the configured data (built-in synthetic cephalograms by default)."""
    from ceph_doctor.cli.train_command import run_training
    from ceph_doctor.train.interrupts import Terminated

    try:
        status = run_training(config, set_ or [], out, name, resume)
    except Terminated as stop:  # the run is recorded as interrupted; the exit code says by which signal
        err_console.print(f"{stop}; continue it with: ceph-doctor train --resume {stop.run_dir}", markup=False,
                          highlight=False, soft_wrap=True)
        raise typer.Exit(128 + stop.signum) from None
    raise typer.Exit(ExitCode.OK if status in ("completed", "early_stopped") else ExitCode.DIAGNOSED)


@app.command(
    epilog="Example: ceph-doctor analyze runs/ --format html --out report.html --emit-config fixed.yaml",
)
def analyze(
    paths: List[Path] = typer.Argument(..., help="Run directories, or folders holding runs."),
    output_format: str = typer.Option("text", "--format", "-f", help="text | md | html | json"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the report here (json: stdout if unset)."),
    rules: Optional[List[Path]] = typer.Option(None, "--rules", help="A folder of extra rule files (repeatable)."),
    emit_config: Optional[Path] = typer.Option(
        None, "--emit-config", help="Write the run's config with every fix applied, for train --config."
    ),
    fail_on: str = typer.Option("error", "--fail-on", help="Exit 1 on diagnoses at or above: error | warning | never."),
    maps: Optional[List[str]] = typer.Option(
        None, "--map", help="Read another tool's metric THEIRS as the canonical tag CANON, e.g. --map val/mre_mm=MRE "
        "(repeatable).",
    ),
    show_names: bool = typer.Option(
        False, "--show-names", help="Print what each logged name was understood as (split, quantity, unit, "
        "direction, tag) instead of the report.",
    ),
    reference: Optional[Path] = typer.Option(None, "--reference", help="A finished run to race against: "
                                             "behind-schedule when a run trails it beyond its own noise."),
) -> None:
    """Diagnose finished or running runs: what went wrong, the evidence, and which settings to change.

    Also reads other tools' logs: TensorBoard event files, MMEngine/MMPose work dirs and mmcv log.json, Hugging
    Face trainer_state.json, MLflow's mlruns/, Lightning, Keras, Ultralytics or any CSV with an epoch or step
    column, and text logs (printed epochs with metrics, progress bars, pred=(x, y) gt=(x, y) lines); which files
    were read or skipped, and which metric is monitored, is told on stderr.
    """
    from ceph_doctor.cli.analyze_command import run_analyze

    raise typer.Exit(run_analyze(paths, output_format, out, rules or [], emit_config, fail_on, maps or [], show_names,
                                 reference))


@app.command(
    epilog="Example: ceph-doctor compare runs/x/checkpoints/epoch_0015.pth runs/x/checkpoints/epoch_0050.pth --out cmp/",
)
def compare(
    a: Path = typer.Argument(..., metavar="A.pth", help="Checkpoint A, the reference (e.g. the best epoch)."),
    b: Path = typer.Argument(..., metavar="B.pth", help="Checkpoint B, compared against A (e.g. the last epoch)."),
    data: Optional[List[str]] = typer.Option(
        None, "--data", help="Evaluate on other images: a config file (its data: section) or KEY=VALUE of a "
        "data.* key, e.g. --data data.root=PATH (repeatable). Default: A's own validation set.",
    ),
    set_: Optional[List[str]] = typer.Option(
        None, "--set", "-s", help="Override a data.* key of the evaluation set, e.g. --set data.limit_val=20 (repeatable).",
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for summary.md, CSV tables and pictures."),
) -> None:
    """Compare two checkpoints on the same images: per-landmark error, which landmarks changed, what weights moved."""
    from ceph_doctor.cli.compare_command import compare_command

    compare_command(a, b, data or [], out, set_ or [])


@app.command(epilog="Example: ceph-doctor watch runs/long --interval 10")
def watch(
    path: Path = typer.Argument(..., metavar="PATH", help="A run being written: a ceph-doctor run directory, a "
                                "TensorBoard folder, an MMEngine work dir, a CSV log."),
    interval: float = typer.Option(5.0, "--interval", help="Seconds between two looks at PATH."),
    idle: float = typer.Option(600.0, "--idle", help="Other tools' logs, which never say they ended: stop after "
                               "this many seconds without a change (also how long to wait for a run to appear)."),
    rules: Optional[List[Path]] = typer.Option(None, "--rules", help="A folder of extra rule files (repeatable)."),
    maps: Optional[List[str]] = typer.Option(
        None, "--map", help="Read another tool's metric THEIRS as the canonical tag CANON (repeatable).",
    ),
    reference: Optional[Path] = typer.Option(None, "--reference", help="A finished run to race against: "
                                             "behind-schedule when a run trails it beyond its own noise."),
) -> None:
    """Follow a run while another process trains it: each finding told once, when it appears, with the
    validation it appeared at (the same as the doctor inside ceph-doctor's loop), and a status line per
    validation. Reads only; ends when the run ends, or with Ctrl-C."""
    from ceph_doctor.cli.watch_command import watch_command

    raise typer.Exit(watch_command(path, interval, idle, rules or [], maps or [], reference))


@app.command(epilog="Example: ceph-doctor labels runs/quick --format json")
def labels(
    run: Path = typer.Argument(..., metavar="RUN", help="A ceph-doctor run directory with its checkpoints."),
    output_format: str = typer.Option("text", "--format", "-f", metavar="<str>", help="text | json"),
    checkpoints: int = typer.Option(5, "--checkpoints", min=1, help="How many of the last epoch checkpoints read."),
    pictures: Path = typer.Option(None, "--pictures", metavar="DIR",
                                  help="Write a picture of each suspect label into DIR (label and prediction drawn)."),
) -> None:
    """Check every training label against the run's last checkpoints: labels they keep contradicting, swapped pairs."""
    from ceph_doctor.cli.labels_command import labels_command

    labels_command(run, output_format, checkpoints, pictures)


@app.command(
    epilog="Example: ceph-doctor ablate --config examples/many_part_pipeline.yaml --parts augment.flip,model.refine "
    "--seeds 2 --jobs 2 --format html --report ablation.html",
)
def ablate(
    config: Optional[Path] = CONFIG,
    set_: Optional[List[str]] = SET,
    parts: Optional[str] = typer.Option(
        None, "--parts", help="Comma-separated parts to ablate (default: every built-in part the config has on), "
        "e.g. augment.flip,model.refine,eval.tta.",
    ),
    part: Optional[List[str]] = typer.Option(
        None, "--part", help="A part of your own: NAME=KEY=VALUE[,KEY=VALUE] switches it off (repeatable).",
    ),
    mode: str = typer.Option("leave-one-out", "--mode", help="leave-one-out (each part switched off from the full "
                             "config) | add-one-in (each switched on from a baseline with all off)."),
    seeds: int = typer.Option(2, "--seeds", min=1, help="Trainings of the reference config, one per seed: they "
                              "measure seed noise."),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Train this many variants at once, as local processes."),
    launcher: str = typer.Option("local", "--launcher", help="local | submitit (Slurm, or local when there is none)."),
    slurm: Optional[List[str]] = typer.Option(
        None, "--slurm", help="A submitit parameter, e.g. --slurm slurm_partition=gpu --slurm timeout_min=120 (repeatable).",
    ),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads per training (default: the "
                                          "cores / --jobs), fixed in the plan: a training's numbers depend on it."),
    print_commands: bool = typer.Option(False, "--print-commands", help="Write the plan and print one `ceph-doctor "
                                        "train` line per variant still to train, for any scheduler; train nothing."),
    collect: Optional[Path] = typer.Option(None, "--collect", help="Train nothing: judge the finished runs of this "
                                           "ablation folder, whoever trained them."),
    out: Optional[Path] = typer.Option(None, "--out", help="The ablation folder (default: ablations/<config name>). "
                                       "Run again with the same arguments to train only what is missing."),
    output_format: str = typer.Option("text", "--format", "-f", help="text | md | html | json"),
    report: Optional[Path] = typer.Option(None, "--report", help="Write the md/html/json report here."),
    rules: Optional[List[Path]] = typer.Option(None, "--rules", help="A folder of extra ablation rule files."),
    fail_on: str = typer.Option("error", "--fail-on", help="Exit 1 on diagnoses at or above: error | warning | never."),
) -> None:
    """Which part is at fault: train the pipeline without each part (or with each alone), judge each part's effect
    per landmark against seed noise, and say which part hurts or costs time for nothing."""
    from ceph_doctor.cli.ablate_command import run_ablate

    raise typer.Exit(run_ablate(config, set_ or [], out, parts, part or [], mode, seeds, jobs, launcher, threads,
                                print_commands, collect, output_format, report, rules or [], fail_on, slurm or []))


@app.command(epilog="Example: ceph-doctor samples --out samples/ --count 8")
def samples(
    out: Path = typer.Option(..., "--out", help="Folder for the PNG files."),
    count: int = typer.Option(8, "--count", min=1, help="How many training images to draw."),
    config: Optional[Path] = CONFIG,
    set_: Optional[List[str]] = SET,
) -> None:
    """Write training images with their landmarks drawn, to look at the data a model will see."""
    from ceph_doctor.cli.train_command import write_samples

    for path in write_samples(config, set_ or [], out, count):
        typer.echo(path)


from ceph_doctor.cli.rules_command import rules_app  # noqa: E402

from ceph_doctor.cli.sanity_command import sanity_app  # noqa: E402

app.add_typer(rules_app, name="rules")
app.add_typer(sanity_app, name="sanity")


def main() -> None:
    """Console entry point: user errors become one line and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except UserInputError as error:  # the message may quote a file's name or contents: printed inert
        err_console.print(Text.assemble(("error:", "bold red"), " ", printable(str(error))), highlight=False,
                          soft_wrap=True)
        sys.exit(ExitCode.BAD_INPUT)
    except typer.TyperException as error:  # usage errors: unknown option, missing argument
        context = getattr(error, "ctx", None)
        if context is None or not hasattr(error, "format_message"):
            error.show()
        else:  # one line, like every other bad input, with where to look
            err_console.print(f"error: {printable(error.format_message())} (see: {context.command_path} --help)",
                              markup=False, highlight=False, soft_wrap=True)
        sys.exit(ExitCode.BAD_INPUT)
    except BrokenPipeError:  # `ceph-doctor analyze … | head`: the reader left; nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail again
        sys.exit(128 + signal.SIGPIPE)
    except OSError as error:  # the file system refused: a full disk, a read-only folder, a missing mount
        where = printable(str(error.filename)) if error.filename is not None else "a file"
        err_console.print(Text.assemble(("error:", "bold red"), f" {where}: {error.strerror or error}"),
                          highlight=False, soft_wrap=True)
        sys.exit(ExitCode.BAD_INPUT)
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("interrupted")
        sys.exit(128 + signal.SIGINT)
    sys.exit(code or ExitCode.OK)


if __name__ == "__main__":
    main()
