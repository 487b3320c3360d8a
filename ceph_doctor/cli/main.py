"""The `ceph-doctor` command line. Thin: parse, call one function, map errors to exit codes.

Plain click: typer, on click, builds a pydantic validator for every parameter at each start, a tenth of a
second of the half second `analyze RUN --format json` may take (`benchmarks/startup.py`).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from ceph_doctor.cli.exit_codes import ExitCode
from ceph_doctor.cli.help_text import PATH, CommandGroup, example
from ceph_doctor.errors import UserInputError
from ceph_doctor.printable import printable

err_console = Console(stderr=True)


@click.group(
    cls=CommandGroup,
    name="ceph-doctor",
    help="Train landmark detectors, record what happens per landmark, and diagnose what went wrong.",
    epilog=example("ceph-doctor train --name first && ceph-doctor analyze runs/first"),
    no_args_is_help=True,
)
@click.version_option(package_name="ceph-doctor", prog_name="ceph-doctor", message="%(prog)s %(version)s",
                      help="Print the version and exit.")
def app() -> None:
    """Options of ceph-doctor itself, before any command (the help text is the group's own)."""


def config_option(command):
    return click.option("--config", "-c", type=PATH, default=None,
                        help="YAML config file (canonical keys; defaults fill the rest).")(command)


def set_option(command):
    return click.option("--set", "-s", "set_", multiple=True, metavar="KEY=VALUE",
                        help="Override one key, e.g. --set optimizer.lr=1e-4 (repeatable).")(command)


@app.command(epilog=example("ceph-doctor train --set train.max_epochs=10 --set optimizer.lr=1e-3 --name quick"))
@config_option
@set_option
@click.option("--out", type=PATH, default=Path("runs"), show_default=True,
              help="Folder that receives the run directory.")
@click.option("--name", default=None, help="Run directory name (default: arch-source-time).")
@click.option("--resume", type=PATH, default=None, help="Continue this run directory from its last checkpoint.")
def train(config: Path | None, set_: tuple[str, ...], out: Path, name: str | None, resume: Path | None) -> None:
    """Train a landmark model on the configured data (built-in synthetic cephalograms by default)."""
    from ceph_doctor.cli.train_command import run_training
    from ceph_doctor.train.interrupts import Terminated

    try:
        status = run_training(config, list(set_), out, name, resume)
    except Terminated as stop:  # the run is recorded as interrupted; the exit code says by which signal
        err_console.print(f"{stop}; continue it with: ceph-doctor train --resume {stop.run_dir}", markup=False,
                          highlight=False, soft_wrap=True)
        sys.exit(128 + stop.signum)
    sys.exit(ExitCode.OK if status in ("completed", "early_stopped") else ExitCode.DIAGNOSED)


@app.command(epilog=example("ceph-doctor analyze runs/ --format html --out report.html --emit-config fixed.yaml"))
@click.argument("paths", nargs=-1, required=True, type=PATH, metavar="PATHS...")
@click.option("--format", "-f", "output_format", default="text", show_default=True, help="text | md | html | json")
@click.option("--out", "-o", type=PATH, default=None, help="Write the report here (json: stdout if unset).")
@click.option("--rules", type=PATH, multiple=True, help="A folder of extra rule files (repeatable).")
@click.option("--emit-config", type=PATH, default=None,
              help="Write the run's config with every fix applied, for train --config.")
@click.option("--fail-on", default="error", show_default=True,
              help="Exit 1 on diagnoses at or above: error | warning | never.")
@click.option("--map", "maps", multiple=True, metavar="CANON=THEIRS", help="Read another tool's metric THEIRS as the canonical tag CANON, "
              "e.g. --map val/mre_mm=MRE (repeatable).")
@click.option("--show-names", is_flag=True, help="Print what each logged name was understood as (split, quantity, "
              "unit, direction, tag) instead of the report.")
@click.option("--reference", type=PATH, default=None, help="A finished run to race against: behind-schedule when a "
              "run trails it beyond its own noise.")
def analyze(paths: tuple[Path, ...], output_format: str, out: Path | None, rules: tuple[Path, ...],
            emit_config: Path | None, fail_on: str, maps: tuple[str, ...], show_names: bool,
            reference: Path | None) -> None:
    """Diagnose finished or running runs: what went wrong, the evidence, and which settings to change.

    Also reads other tools' logs: TensorBoard event files, MMEngine/MMPose work dirs and mmcv log.json, Hugging
    Face trainer_state.json, MLflow's mlruns/, Lightning, Keras, Ultralytics or any CSV with an epoch or step
    column, and text logs (printed epochs with metrics, progress bars, pred=(x, y) gt=(x, y) lines); which files
    were read or skipped, and which metric is monitored, is told on stderr.
    """
    from ceph_doctor.cli.analyze_command import run_analyze

    sys.exit(run_analyze(list(paths), output_format, out, list(rules), emit_config, fail_on, list(maps), show_names,
                         reference))


@app.command(epilog=example("ceph-doctor compare runs/x/checkpoints/epoch_0015.pth "
                            "runs/x/checkpoints/epoch_0050.pth --out cmp/"))
@click.argument("a", type=PATH, metavar="A.pth")
@click.argument("b", type=PATH, metavar="B.pth")
@click.option("--data", multiple=True, help="Evaluate on other images: a config file (its data: section) or "
              "KEY=VALUE of a data.* key, e.g. --data data.root=PATH (repeatable). Default: A's own validation set.")
@click.option("--set", "-s", "set_", multiple=True, metavar="KEY=VALUE", help="Override a data.* key of the evaluation set, e.g. "
              "--set data.limit_val=20 (repeatable).")
@click.option("--out", type=PATH, default=None, help="Folder for summary.md, CSV tables and pictures.")
def compare(a: Path, b: Path, data: tuple[str, ...], set_: tuple[str, ...], out: Path | None) -> None:
    """Compare two checkpoints on the same images: per-landmark error, which landmarks changed, what weights moved.

    A.pth is the reference (e.g. the best epoch); B.pth is compared against it (e.g. the last epoch).
    """
    from ceph_doctor.cli.compare_command import compare_command

    compare_command(a, b, list(data), out, list(set_))


@app.command(epilog=example("ceph-doctor watch runs/long --interval 10"))
@click.argument("path", type=PATH, metavar="PATH")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between two looks at PATH.")
@click.option("--idle", type=float, default=600.0, show_default=True, help="Other tools' logs, which never say they "
              "ended: stop after this many seconds without a change (also how long to wait for a run to appear).")
@click.option("--rules", type=PATH, multiple=True, help="A folder of extra rule files (repeatable).")
@click.option("--map", "maps", multiple=True, metavar="CANON=THEIRS", help="Read another tool's metric THEIRS as the canonical tag CANON "
              "(repeatable).")
@click.option("--reference", type=PATH, default=None, help="A finished run to race against: behind-schedule when a "
              "run trails it beyond its own noise.")
def watch(path: Path, interval: float, idle: float, rules: tuple[Path, ...], maps: tuple[str, ...],
          reference: Path | None) -> None:
    """Follow a run while another process trains it: each finding told once, when it appears, with the
    validation it appeared at (the same as the doctor inside ceph-doctor's loop), and a status line per
    validation. Reads only; ends when the run ends, or with Ctrl-C.

    PATH: a run being written: a ceph-doctor run directory, a TensorBoard folder, an MMEngine work dir, a CSV log.
    """
    from ceph_doctor.cli.watch_command import watch_command

    sys.exit(watch_command(path, interval, idle, list(rules), list(maps), reference))


@app.command(epilog=example("ceph-doctor labels runs/quick --format json"))
@click.argument("run", type=PATH, metavar="RUN")
@click.option("--format", "-f", "output_format", default="text", show_default=True, help="text | json")
@click.option("--checkpoints", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many of the last epoch checkpoints read.")
@click.option("--pictures", type=PATH, default=None, metavar="DIR",
              help="Write a picture of each suspect label into DIR (label and prediction drawn).")
def labels(run: Path, output_format: str, checkpoints: int, pictures: Path | None) -> None:
    """Check every training label against the run's last checkpoints: labels they keep contradicting, swapped pairs.

    RUN: a ceph-doctor run directory with its checkpoints.
    """
    from ceph_doctor.cli.labels_command import labels_command

    labels_command(run, output_format, checkpoints, pictures)


@app.command(epilog=example("ceph-doctor ablate --config examples/many_part_pipeline.yaml --parts "
                            "augment.flip,model.refine --seeds 2 --jobs 2 --format html --report ablation.html"))
@config_option
@set_option
@click.option("--parts", default=None, help="Comma-separated parts to ablate (default: every built-in part the "
              "config has on), e.g. augment.flip,model.refine,eval.tta.")
@click.option("--part", multiple=True, metavar="NAME=KEY=VALUE", help="A part of your own: NAME=KEY=VALUE[,KEY=VALUE] switches it off "
              "(repeatable).")
@click.option("--mode", default="leave-one-out", show_default=True, help="leave-one-out (each part switched off "
              "from the full config) | add-one-in (each switched on from a baseline with all off).")
@click.option("--seeds", type=click.IntRange(min=1), default=2, show_default=True, help="Trainings of the "
              "reference config, one per seed: they measure seed noise.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train this many variants at once, as local processes.")
@click.option("--launcher", default="local", show_default=True,
              help="local | submitit (Slurm, or local when there is none).")
@click.option("--slurm", multiple=True, metavar="KEY=VALUE", help="A submitit parameter, e.g. --slurm slurm_partition=gpu --slurm "
              "timeout_min=120 (repeatable).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads per training (default: the "
              "cores / --jobs), fixed in the plan: a training's numbers depend on it.")
@click.option("--print-commands", is_flag=True, help="Write the plan and print one `ceph-doctor train` line per "
              "variant still to train, for any scheduler; train nothing.")
@click.option("--collect", type=PATH, default=None, help="Train nothing: judge the finished runs of this ablation "
              "folder, whoever trained them.")
@click.option("--out", type=PATH, default=None, help="The ablation folder (default: ablations/<config name>). Run "
              "again with the same arguments to train only what is missing.")
@click.option("--format", "-f", "output_format", default="text", show_default=True, help="text | md | html | json")
@click.option("--report", type=PATH, default=None, help="Write the md/html/json report here.")
@click.option("--rules", type=PATH, multiple=True, help="A folder of extra ablation rule files.")
@click.option("--fail-on", default="error", show_default=True,
              help="Exit 1 on diagnoses at or above: error | warning | never.")
def ablate(config: Path | None, set_: tuple[str, ...], parts: str | None, part: tuple[str, ...], mode: str,
           seeds: int, jobs: int, launcher: str, slurm: tuple[str, ...], threads: int | None, print_commands: bool,
           collect: Path | None, out: Path | None, output_format: str, report: Path | None, rules: tuple[Path, ...],
           fail_on: str) -> None:
    """Which part is at fault: train the pipeline without each part (or with each alone), judge each part's effect
    per landmark against seed noise, and say which part hurts or costs time for nothing."""
    from ceph_doctor.cli.ablate_command import run_ablate

    sys.exit(run_ablate(config, list(set_), out, parts, list(part), mode, seeds, jobs, launcher, threads,
                        print_commands, collect, output_format, report, list(rules), fail_on, list(slurm)))


@app.command(epilog=example("ceph-doctor samples --out samples/ --count 8"))
@click.option("--out", type=PATH, required=True, help="Folder for the PNG files.")
@click.option("--count", type=click.IntRange(min=1), default=8, show_default=True,
              help="How many training images to draw.")
@config_option
@set_option
def samples(out: Path, count: int, config: Path | None, set_: tuple[str, ...]) -> None:
    """Write training images with their landmarks drawn, to look at the data a model will see."""
    from ceph_doctor.cli.train_command import write_samples

    for path in write_samples(config, list(set_), out, count):
        click.echo(path)


from ceph_doctor.cli.rules_command import rules_app  # noqa: E402

from ceph_doctor.cli.sanity_command import sanity_app  # noqa: E402

app.add_command(rules_app, name="rules")
app.add_command(sanity_app, name="sanity")


def main() -> None:
    """Console entry point: user errors become one line and exit code 2."""
    try:
        code = app.main(standalone_mode=False)
    except UserInputError as error:  # the message may quote a file's name or contents: printed inert
        err_console.print(Text.assemble(("error:", "bold red"), " ", printable(str(error))), highlight=False,
                          soft_wrap=True)
        sys.exit(ExitCode.BAD_INPUT)
    except click.exceptions.NoArgsIsHelpError as error:  # a bare `ceph-doctor` or `ceph-doctor rules`: its help
        click.echo(error.ctx.get_help())
        sys.exit(ExitCode.BAD_INPUT)
    except click.ClickException as error:  # usage errors: unknown option, missing argument
        context = getattr(error, "ctx", None)
        if context is None:
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
    except (KeyboardInterrupt, click.Abort):
        err_console.print("interrupted")
        sys.exit(128 + signal.SIGINT)
    sys.exit(code or ExitCode.OK)


if __name__ == "__main__":
    main()
