"""`ceph-doctor ablate`: plan, train what is missing (or print the commands, or only collect), report."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ceph_doctor.cli.analyze_command import FAIL_ON, FORMATS
from ceph_doctor.config import load_config, parse_override
from ceph_doctor.engine.diagnosis import SEVERITIES
from ceph_doctor.errors import UserInputError

console = Console(stderr=True, highlight=False, soft_wrap=True)


def run_ablate(config_path: Path | None, overrides: list[str], out: Path | None, parts: str | None,
               extra_parts: list[str], mode: str, seeds: int, jobs: int, launcher: str, threads: int | None,
               print_commands: bool, collect_dir: Path | None, output_format: str, report: Path | None,
               rule_dirs: list[Path], fail_on: str, slurm: list[str]) -> int:
    from ceph_doctor.ablate import collect, plan_ablation, run_ablation
    from ceph_doctor.ablate.launch import to_train
    from ceph_doctor.ablate.parts import parse_part

    if output_format not in FORMATS:
        raise UserInputError(f"--format {output_format!r}: expected one of {', '.join(FORMATS)}")
    if fail_on not in FAIL_ON:
        raise UserInputError(f"--fail-on {fail_on!r}: expected one of {', '.join(FAIL_ON)}")
    if collect_dir is not None:
        outcome = collect(collect_dir, rule_dirs)
    else:
        config = load_config(config_path, overrides)  # no --config: the defaults, with any --set
        folder = out or Path("ablations") / (config_path.stem if config_path else "default")
        names = [name.strip() for name in parts.split(",") if name.strip()] if parts else None
        own = [parse_part(text) for text in extra_parts]
        if print_commands:
            plan = plan_ablation(config, folder, names, own, mode, seeds, threads, jobs)
            for variant, resume in to_train(plan):
                print(f"ceph-doctor train --resume {plan.run_dir(variant)}" if resume else plan.command(variant))
            console.print(f"then: ceph-doctor ablate --collect {plan.folder}")
            return 0
        parameters = dict(parse_override(item) for item in slurm)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("ablation", total=None)

            def tell(variant, what: str) -> None:
                if what == "started":
                    bar.update(task, description=f"training {variant.name}")
                else:
                    bar.advance(task)
                    console.print(f"{variant.name}: {what}")

            outcome = run_ablation(config, folder, names, own, mode, seeds, jobs, launcher, threads, tell, rule_dirs,
                                   submitit_parameters=parameters)
        skipped = len(outcome.plan.variants) - len(outcome.launched.trained) - len(outcome.launched.failed)
        if skipped:
            console.print(f"{skipped} variant(s) already finished in {outcome.plan.folder}: not trained again")
    render(outcome, output_format, report)
    return exit_code(outcome, fail_on)


def render(outcome, output_format: str, report: Path | None) -> None:
    from ceph_doctor.ablate import report as ablation_report

    result, verdicts = outcome.result, outcome.verdicts
    if output_format == "json":
        text = ablation_report.json_text(result, verdicts)
        if report is None:
            print(text)
        else:
            report.write_text(text + "\n", encoding="utf-8")
        return
    if output_format == "text" or report is None:
        if output_format != "text":
            raise UserInputError(f"--format {output_format}: give --report FILE to write it to")
        ablation_report.print_report(result, verdicts, Console())
        return
    write = ablation_report.write_html if output_format == "html" else ablation_report.write_markdown
    console.print(f"wrote {write(result, verdicts, report)}")


def exit_code(outcome, fail_on: str) -> int:
    if fail_on == "never":
        return 0
    worst = SEVERITIES.index(fail_on)
    found = [d for v in outcome.verdicts for d in v.diagnoses if SEVERITIES.index(d.severity) <= worst]
    return 1 if found else 0
