"""Training an ablation's variants: one after another here, as N local processes, or through submitit.

Each variant is an independent `ceph-doctor train` of its own config file into its own run directory, so
any launcher gives the same runs (each training's thread count is fixed by the plan). What is already
finished is never trained again; a run that was started and did not end resumes from its last checkpoint.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ceph_doctor.ablate.plan import Plan, Variant
from ceph_doctor.config import load_config
from ceph_doctor.errors import ConfigError

LAUNCHERS = ("local", "submitit")
Progress = Callable[[Variant, str], None]  # a variant and what became of it ("started", "finished", "failed: …")


@dataclass
class Launched:
    trained: list[str] = field(default_factory=list)  # variants trained (or resumed) by this call
    failed: dict[str, str] = field(default_factory=dict)  # variant → why


def train_variant(config_path: str, run_dir: str, resume: bool) -> str:
    """Train one variant in this process; its status. Module-level, so submitit can pickle it by name."""
    from ceph_doctor.train.loop import Trainer
    from ceph_doctor.train.recorder import Recorder

    config = load_config(config_path)
    return Trainer(config, Path(run_dir), hooks=[Recorder(Path(run_dir))], resume=resume).fit().status


def to_train(plan: Plan) -> list[tuple[Variant, bool]]:
    """The variants not finished yet, each with whether it resumes a started run."""
    pending = []
    for variant in plan.variants:
        state = plan.state(variant)
        if state != "finished":
            pending.append((variant, state == "partial"))
    return pending


def launch(plan: Plan, jobs: int = 1, launcher: str = "local", progress: Progress | None = None,
           submitit_cluster: str | None = None, submitit_parameters: dict | None = None) -> Launched:
    if launcher not in LAUNCHERS:
        raise ConfigError(f"--launcher {launcher!r}: expected one of {', '.join(LAUNCHERS)}")
    if jobs < 1:
        raise ConfigError("--jobs: at least 1")
    pending = to_train(plan)
    tell = progress or (lambda variant, what: None)
    if launcher == "submitit":
        return _submitit(plan, pending, tell, submitit_cluster, submitit_parameters or {})
    if jobs == 1:
        return _here(plan, pending, tell)
    return _processes(plan, pending, jobs, tell)


def _here(plan: Plan, pending, tell: Progress) -> Launched:
    done = Launched()
    threads = torch.get_num_threads()
    try:
        for variant, resume in pending:
            tell(variant, "started")
            try:
                train_variant(str(plan.config_path(variant)), str(plan.run_dir(variant)), resume)
            except KeyboardInterrupt:
                raise
            except Exception as error:  # noqa: BLE001 — one failed variant does not stop the others
                done.failed[variant.name] = _why(error)
                tell(variant, f"failed: {done.failed[variant.name]}")
                continue
            done.trained.append(variant.name)
            tell(variant, "finished")
    finally:
        torch.set_num_threads(threads)  # each training set the plan's count; the caller gets its own back
    return done


def _processes(plan: Plan, pending, jobs: int, tell: Progress) -> Launched:
    """`ceph-doctor train` as up to `jobs` child processes; each one's output goes to logs/NAME.log."""
    done = Launched()
    logs = plan.folder / "logs"
    logs.mkdir(exist_ok=True)
    queue, running = list(pending), {}
    try:
        while queue or running:
            while queue and len(running) < jobs:
                variant, resume = queue.pop(0)
                command = [sys.executable, "-m", "ceph_doctor", "train"]
                command += (["--resume", str(plan.run_dir(variant))] if resume else
                            ["--config", str(plan.config_path(variant)), "--out", str(plan.folder),
                             "--name", variant.name])
                log = open(logs / f"{variant.name}.log", "ab")
                running[variant.name] = (variant, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log)
                tell(variant, "started")
            for name, (variant, process, log) in list(running.items()):
                if process.poll() is None:
                    continue
                log.close()
                del running[name]
                if plan.state(variant) == "finished":
                    done.trained.append(name)
                    tell(variant, "finished")
                else:
                    done.failed[name] = f"exit code {process.returncode}; see {logs / (name + '.log')}"
                    tell(variant, f"failed: {done.failed[name]}")
            time.sleep(0.2)
    finally:
        for variant, process, log in running.values():  # interrupted: the children stop with us
            process.terminate()
            process.wait()
            log.close()
    return done


def _submitit(plan: Plan, pending, tell: Progress, cluster: str | None, parameters: dict) -> Launched:
    try:
        import submitit
    except ImportError:
        raise ConfigError("--launcher submitit: submitit is not installed (pip install submitit)") from None
    done = Launched()
    executor = submitit.AutoExecutor(folder=str(plan.folder / "submitit"), cluster=cluster)
    executor.update_parameters(name="ceph-doctor-ablate", **parameters)
    jobs = []
    with executor.batch():
        for variant, resume in pending:
            jobs.append((variant, executor.submit(train_variant, str(plan.config_path(variant)),
                                                  str(plan.run_dir(variant)), resume)))
    for variant, _ in jobs:
        tell(variant, "started")
    for variant, job in jobs:
        try:
            job.result()
        except Exception as error:  # noqa: BLE001 — submitit re-raises the job's failure here
            done.failed[variant.name] = _why(error)
            tell(variant, f"failed: {done.failed[variant.name]}")
            continue
        done.trained.append(variant.name)
        tell(variant, "finished")
    return done


def _why(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}".strip().rstrip(":")
