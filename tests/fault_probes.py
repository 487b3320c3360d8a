"""The fault-injection catalog: each way a hostile or unlucky user can hand ceph-doctor a bad file, value or
machine, done for real.

A probe writes its damaged input into an empty folder (with the real libraries where a format has one:
pandas, pyarrow, TensorBoard's SummaryWriter, torch.save), runs the command line as a user would, and is judged
on the contract every bad input has:

- refused: exit 2 and one line on stderr naming the file or key;
- said:    the command completes and says what it could not read or do (the `said` fragment);
- and always: no traceback, no hang, and nothing lost: every file that was there before is unchanged, except
  the run a training probe writes, which must still read at least as many records as before and stay readable.

`tests/test_faults.py` runs every probe; `benchmarks/faults.py` prints the table of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TINY_TRAINING = [
    "data.input_size=[64,64]", "data.synthetic.render_size=[96,112]", "data.synthetic.train_images=12",
    "data.synthetic.val_images=4", "data.train_subset=4", "data.batch_size=4", "model.channels=8",
    "train.max_epochs=3",
]
PROBE_TIMEOUT_S = 180


def settings(*items: str) -> list[str]:
    return [argument for item in items for argument in ("--set", item)]


def make_materials(folder: Path) -> Materials:
    """A small finished run (its checkpoints included), trained once and copied by each probe that needs one."""
    run = folder / "good-run"
    if not (run / "manifest.json").is_file():
        subprocess.run([sys.executable, "-m", "ceph_doctor", "train", *settings(*TINY_TRAINING), "--out",
                        str(folder), "--name", run.name], check=True, capture_output=True, timeout=600)
    return Materials(run)


@dataclass(frozen=True)
class Materials:
    run: Path

    @property
    def checkpoint(self) -> Path:
        return self.run / "checkpoints" / "epoch_0001.pth"

    def copy_run(self, target: Path) -> Path:
        shutil.copytree(self.run, target, ignore=shutil.ignore_patterns(".writer*"))
        return target


@dataclass
class Setup:
    """What a probe's `prepare` hands back: the command's arguments, and what the probe may change."""

    arguments: list[str]
    writes: list[Path] = field(default_factory=list)  # runs the command may legitimately write to
    during: Callable[[subprocess.Popen], None] | None = None  # acts on the running command (a signal)
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    also_forbidden: tuple[str, ...] = ()  # text that must not appear in the output (a raw escape sequence)
    sentinel: Path | None = None  # a file that exists only if crafted code ran
    left_empty: Path | None = None  # a folder the failed command must leave as it found it: empty


@dataclass(frozen=True)
class Probe:
    name: str
    group: str
    prepare: Callable[[Path, Materials], Setup]
    expect: str  # "refused" | "said"
    said: str = ""  # a fragment the one line (refused) or the output (said) must contain
    exit_code: int | None = None  # "said" probes: the exit code they must end with (default: 0 or 1)
    needs_mount: bool = False  # skipped where this machine cannot mount a tmpfs
    tested_in: str = ""  # a test module that checks this fault in more detail: the suite runs it there only


@dataclass
class Outcome:
    probe: Probe
    verdict: str  # "ok" | "skipped" | what went wrong
    returncode: int | None
    output: str
    lost: list[str]
    seconds: float

    @property
    def passed(self) -> bool:
        return self.verdict in ("ok", "skipped")


# ------------------------------------------------------------------------------------------ running a probe
def run_probe(probe: Probe, folder: Path, materials: Materials) -> Outcome:
    start = time.perf_counter()
    if probe.needs_mount and not can_mount():
        return Outcome(probe, "skipped", None, "cannot mount a tmpfs here", [], 0.0)
    setup = probe.prepare(folder, materials)
    try:
        before_files = _file_hashes(folder, setup.writes)
        before_records = {run: _records(run) for run in setup.writes}
        command = [sys.executable, "-m", "ceph_doctor", *setup.arguments]
        # A session of its own: a hung command's loader workers are killed with it (they hold its pipes open).
        process = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "COLUMNS": "120"}, start_new_session=True)
        if setup.during is not None:
            setup.during(process)
        try:
            stdout, stderr = process.communicate(timeout=PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return Outcome(probe, f"hang (no answer in {PROBE_TIMEOUT_S} s)", None, "", [], PROBE_TIMEOUT_S)
        lost = _lost(folder, before_files, setup.writes) + [
            f"{run}: {problem}" for run in setup.writes if (problem := _fewer(before_records[run], _records(run)))]
        verdict = _verdict(probe, setup, process.returncode, stdout, stderr, lost)
        return Outcome(probe, verdict, process.returncode, stdout + stderr, lost, time.perf_counter() - start)
    finally:
        for undo in setup.cleanup:
            undo()


def _verdict(probe: Probe, setup: Setup, code: int, stdout: str, stderr: str, lost: list[str]) -> str:
    output = stdout + stderr
    if "Traceback (most recent call last)" in output:
        return "traceback"
    if lost:
        return "data lost"
    if setup.sentinel is not None and setup.sentinel.exists():
        return "crafted code ran"
    if any(text in output for text in setup.also_forbidden):
        return "raw control sequence printed"
    if setup.left_empty is not None and any(setup.left_empty.iterdir()):
        return f"half-written files left in {setup.left_empty}"
    if probe.expect == "refused":
        lines = [line for line in stderr.splitlines() if line.strip()]
        if code != 2:
            return f"exit {code}, not 2"
        if len(lines) != 1:
            return f"{len(lines)} lines on stderr, not one"
        if probe.said not in lines[0]:
            return f"the line does not say {probe.said!r}"
        return "ok"
    allowed = (probe.exit_code,) if probe.exit_code is not None else (0, 1)
    if code not in allowed:
        return f"exit {code}, not {' or '.join(map(str, allowed))}"
    squeezed = " ".join(output.split())  # long paths wrap in the terminal report
    if probe.said not in squeezed and probe.said.replace(" ", "") not in "".join(output.split()):
        return f"does not say {probe.said!r}"
    return "ok"


def _file_hashes(folder: Path, writable: list[Path]) -> dict[Path, str]:
    from ceph_doctor.folder_walk import walk  # os.walk recurses: the deep-folders probe would end it

    return {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in walk(folder).files
            if not any(path.is_relative_to(allowed) for allowed in writable)}


def _lost(folder: Path, before: dict[Path, str], writable: list[Path]) -> list[str]:
    after = _file_hashes(folder, writable)
    return [f"{path} {'changed' if path in after else 'gone'}" for path, digest in before.items()
            if after.get(path) != digest]


def _records(run: Path) -> int | None:
    """Scalar and prediction rows the run store reader keeps; None when there is no run; -1 unreadable."""
    if not (run / "manifest.json").is_file():
        return None
    from ceph_doctor import load_run
    from ceph_doctor.errors import UserInputError

    try:
        loaded = load_run(run)
    except UserInputError:
        return -1
    return len(loaded.scalars) + len(loaded.predictions)


def _fewer(before: int | None, after: int | None) -> str | None:
    if after == -1:
        return "no longer readable"
    if before is not None and before >= 0 and (after or 0) < before:
        return f"reads {after} records, {before} before"
    return None


_MOUNTABLE: list[bool] = []


def can_mount() -> bool:
    """Whether this machine lets us mount a small tmpfs (root in a container that allows it)."""
    if not _MOUNTABLE:
        probe = Path(f"/tmp/ceph-doctor-mount-check-{os.getpid()}")
        probe.mkdir(exist_ok=True)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(probe)],
                                 capture_output=True).returncode == 0 if shutil.which("mount") else False
        if mounted:
            subprocess.run(["umount", str(probe)], capture_output=True)
        probe.rmdir()
        _MOUNTABLE.append(mounted)
    return _MOUNTABLE[0]


def _tmpfs(folder: Path, setup_cleanup: list, size: str, read_only: bool = False) -> Path:
    disk = folder / "disk"
    disk.mkdir()
    options = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(disk)], check=True)
    setup_cleanup.append(lambda: subprocess.run(["umount", "-l", str(disk)], capture_output=True))
    return disk


# ------------------------------------------------------------------------------------------ crafted files
class WritesAFile:
    """A pickle that, if it were ever unpickled, would create the sentinel file."""

    def __init__(self, sentinel: Path):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def deflated(source: Path, target: Path, payload_bytes: int) -> None:
    """A copy of a torch checkpoint whose tensor data entry is `payload_bytes` of zeros, deflated to almost nothing."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
        for entry in archive.infolist():
            if "/data/" in entry.filename:
                out.writestr(entry.filename, bytes(payload_bytes), compress_type=zipfile.ZIP_DEFLATED)
            else:
                out.writestr(entry, archive.read(entry.filename))


def _analyze(target: Path, *extra: str) -> list[str]:
    return ["analyze", str(target), "--fail-on", "never", *extra]


def _damaged_scalars(damage: Callable[[bytes], bytes]) -> Callable[[Path, Materials], Setup]:
    def prepare(folder: Path, materials: Materials) -> Setup:
        run = materials.copy_run(folder / "run")
        path = run / "scalars.csv"
        path.write_bytes(damage(path.read_bytes()))
        return Setup(_analyze(run))
    return prepare


def _damaged_predictions(damage: Callable[[Path], None]) -> Callable[[Path, Materials], Setup]:
    def prepare(folder: Path, materials: Materials) -> Setup:
        run = materials.copy_run(folder / "run")
        damage(run / "predictions")
        return Setup(_analyze(run))
    return prepare


def _first_parquet(folder: Path) -> Path:
    return sorted(folder.glob("*.parquet"))[0]


def _other_schema(folder: Path) -> None:
    import pandas as pd

    pd.DataFrame({"epoch": [9], "x": [1.0]}).to_parquet(folder / "epoch-00009.parquet")


def _manifest(change: Callable[[dict], object], *, in_folder: bool = False) -> Callable[[Path, Materials], Setup]:
    def prepare(folder: Path, materials: Materials) -> Setup:
        runs = folder / "runs"
        if in_folder:
            materials.copy_run(runs / "good")
        run = materials.copy_run(runs / "bad")
        manifest = json.loads((run / "manifest.json").read_text())
        changed = change(manifest)
        (run / "manifest.json").write_text(changed if isinstance(changed, str) else json.dumps(changed))
        return Setup(_analyze(runs if in_folder else run))
    return prepare


def _left_running(folder: Path, materials: Materials) -> Setup:
    run = materials.copy_run(folder / "run")
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that no longer runs
    (run / ".writer").write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "since": "earlier"}))
    return Setup(_analyze(run))


def damaged_event_file(folder: Path, damage: str) -> Path:
    """A TensorBoard log of 100 steps written by SummaryWriter, then `damage`d: "cut" halfway, or a byte flipped."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder))
    for step in range(1, 101):
        writer.add_scalar("train/loss", 1.0 / step, step)
        if step % 10 == 0:
            writer.add_scalar("val/loss", 1.0 / step, step)
    writer.close()
    events = next(folder.glob("events.*"))
    data = bytearray(events.read_bytes())
    if damage == "cut":
        data = data[: len(data) // 2 + 5]
    else:
        data[len(data) // 2] ^= 0xFF
    events.write_bytes(bytes(data))
    return events


def _tensorboard(damage: str) -> Callable[[Path, Materials], Setup]:
    def prepare(folder: Path, materials: Materials) -> Setup:
        damaged_event_file(folder / "tb", damage)
        return Setup(_analyze(folder / "tb"))
    return prepare


def _huge_values(folder: Path, materials: Materials) -> Setup:
    import pandas as pd

    log = folder / "log"
    log.mkdir()
    pd.DataFrame({"epoch": [0, 1, 2, 3], "train_loss": [1e308, 1e308, 0.5, 1e-308],
                  "val_loss": [1e308, -1e308, 1e308, float("inf")]}).to_csv(log / "metrics.csv", index=False)
    return Setup(_analyze(log, "--format", "html", "--out", str(folder / "report.html")),
                 writes=[folder / "report.html"])


def _deep_folders(folder: Path, materials: Materials) -> Setup:
    import pandas as pd

    frame = pd.DataFrame({"epoch": range(4), "train_loss": [1, 0.6, 0.4, 0.3], "val_loss": [1, 0.7, 0.6, 0.65]})
    here = folder / "logs"
    for depth in range(1500):  # one level at a time: a path this long cannot be made in one call
        here = here / "d"
        here.mkdir(parents=depth == 0)
        if depth == 2:
            frame.to_csv(here / "metrics.csv", index=False)
    return Setup(_analyze(folder / "logs"), cleanup=[lambda: _remove_chain(folder / "logs")])


def _remove_chain(top: Path) -> None:
    """Remove a folder chain too deep for shutil.rmtree's recursion, from the bottom up."""
    chain = [top]
    while (chain[-1] / "d").is_dir():
        chain.append(chain[-1] / "d")
    for folder in reversed(chain):
        for entry in folder.iterdir():
            if entry.is_file():
                entry.unlink()
        folder.rmdir()


def _escapes_in_names(folder: Path, materials: Materials) -> Setup:
    import pandas as pd

    log = folder / "log\x1b[31m"
    log.mkdir()
    evil = "val_\x1b[2Jmre_mm\x1b]0;owned\x07"
    pd.DataFrame({"epoch": range(6), "train_loss": [1 / (e + 1) for e in range(6)],
                  evil: [5 - 0.1 * e for e in range(6)]}).to_csv(log / "metrics.csv", index=False)
    return Setup(_analyze(log, "--show-names"), also_forbidden=("\x1b[2J", "\x07", "\x1b[31m"))


def _markup_in_path(folder: Path, materials: Materials) -> Setup:
    run = materials.copy_run(folder / "run [/]" / "[bold]x")
    return Setup(_analyze(run))


def _compare(make: Callable[[Path, Materials], Path], *, sentinel: bool = False) -> Callable[[Path, Materials], Setup]:
    def prepare(folder: Path, materials: Materials) -> Setup:
        crafted = make(folder, materials)
        return Setup(["compare", str(crafted), str(materials.checkpoint)],
                     sentinel=folder / "SENTINEL" if sentinel else None)
    return prepare


def _empty_checkpoint(folder: Path, materials: Materials) -> Path:
    (folder / "empty.pth").write_bytes(b"")
    return folder / "empty.pth"


def _noise_checkpoint(folder: Path, materials: Materials) -> Path:
    (folder / "noise.pth").write_bytes(bytes((i * 97 + 13) % 256 for i in range(4096)))
    return folder / "noise.pth"


def _pickle_with_code(folder: Path, materials: Materials) -> Path:
    (folder / "plain.pth").write_bytes(pickle.dumps(WritesAFile(folder / "SENTINEL")))
    return folder / "plain.pth"


def _torch_file_with_code(folder: Path, materials: Materials) -> Path:
    import torch

    torch.save({"state_dict": {"w": torch.ones(1)}, "payload": WritesAFile(folder / "SENTINEL")}, folder / "evil.pth")
    return folder / "evil.pth"


def _stride_zero(folder: Path, materials: Materials) -> Path:
    import torch

    torch.save({"w": torch.zeros(1).expand(2**40)}, folder / "view.pth")
    return folder / "view.pth"


def _deflate_bomb(folder: Path, materials: Materials) -> Path:
    import torch

    torch.save({"w": torch.zeros(8)}, folder / "small.pth")
    deflated(folder / "small.pth", folder / "bomb.pth", 200_000_000)
    return folder / "bomb.pth"


def _train(*extra: str) -> Callable[[Path, Materials], Setup]:
    def prepare(folder: Path, materials: Materials) -> Setup:
        return Setup(["train", *settings(*TINY_TRAINING, *extra), "--out", str(folder), "--name", "new"],
                     writes=[folder / "new"])
    return prepare


def _config_file(text: str) -> Callable[[Path, Materials], Setup]:
    def prepare(folder: Path, materials: Materials) -> Setup:
        (folder / "config.yaml").write_text(text)
        return Setup(["train", "--config", str(folder / "config.yaml"), "--out", str(folder), "--name", "new"],
                     writes=[folder / "new"])
    return prepare


YAML_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8)
) + "train:\n  max_epochs: *i\n"


def _resume_other_model(folder: Path, materials: Materials) -> Setup:
    """The run's last.pth with its first layer twice as wide: the weights of another model (trained with more
    channels), written by torch.save as any checkpoint is."""
    import torch

    run = materials.copy_run(folder / "run")
    last = run / "checkpoints" / "last.pth"
    payload = torch.load(last, weights_only=True)
    weights = payload["train_state"]["model"]
    first = next(iter(weights))
    weights[first] = torch.zeros((weights[first].shape[0] * 2, *weights[first].shape[1:]))
    torch.save(payload, last)
    return Setup(["train", "--resume", str(run), *settings("train.max_epochs=4")], writes=[run])


def _resume_damaged_manifest(folder: Path, materials: Materials) -> Setup:
    run = materials.copy_run(folder / "run")
    (run / "manifest.json").write_text('{"schema_version": 1, "config": {"model": {"arch": 5}}}')
    return Setup(["train", "--resume", str(run), *settings("train.max_epochs=4")], writes=[run])


def _resume_while_training(folder: Path, materials: Materials) -> Setup:
    run = materials.copy_run(folder / "run")
    first = subprocess.Popen([sys.executable, "-m", "ceph_doctor", "train", "--resume", str(run),
                              *settings("train.max_epochs=400")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run / ".writer").is_file() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)

    def stop_first() -> None:
        first.send_signal(signal.SIGINT)
        try:
            first.wait(timeout=60)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait()
    return Setup(["train", "--resume", str(run), *settings("train.max_epochs=400")], writes=[run],
                 cleanup=[stop_first])


def _terminated(folder: Path, materials: Materials) -> Setup:
    run = folder / "new"

    def terminate_after_a_validation(process: subprocess.Popen) -> None:
        deadline = time.monotonic() + 120
        while not any((run / "predictions").glob("*.parquet")) if (run / "predictions").is_dir() else True:
            if process.poll() is not None or time.monotonic() > deadline:
                return
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
    return Setup(["train", *settings(*TINY_TRAINING, "train.max_epochs=200"), "--out", str(folder), "--name",
                  "new"], writes=[run], during=terminate_after_a_validation)


def _disk_full_training(folder: Path, materials: Materials) -> Setup:
    cleanup: list = []
    disk = _tmpfs(folder, cleanup, "300k")
    return Setup(["train", *settings(*TINY_TRAINING, "train.max_epochs=20"), "--out", str(disk), "--name", "new"],
                 writes=[disk / "new"], cleanup=cleanup)


def _read_only_output(folder: Path, materials: Materials) -> Setup:
    cleanup: list = []
    disk = _tmpfs(folder, cleanup, "1m", read_only=True)
    return Setup(["train", *settings(*TINY_TRAINING), "--out", str(disk), "--name", "new"], cleanup=cleanup)


def _report_to_full_disk(folder: Path, materials: Materials) -> Setup:
    cleanup: list = []
    disk = _tmpfs(folder, cleanup, "64k")
    run = materials.copy_run(folder / "run")
    return Setup(_analyze(run, "--format", "md", "--out", str(disk / "report.md")), writes=[disk], cleanup=cleanup,
                 left_empty=disk)


def _cut_mid_row(data: bytes) -> bytes:
    return data[: data.rindex(b",")]


PROBES = [
    # -------------------------------------------------------------- the run store, damaged
    Probe("scalars.csv cut mid-row", "run store", _damaged_scalars(_cut_mid_row), "said", "cut short",
          tested_in="test_damaged_input"),
    Probe("scalars.csv line with extra fields", "run store",
          _damaged_scalars(lambda d: d + b"7,1,train/loss,0.5,1.0,surplus\n"), "said", "skipped",
          tested_in="test_damaged_input"),
    Probe("scalars.csv value not a number", "run store",
          _damaged_scalars(lambda d: d + b"7,1,train/loss,abc,1.0\n"), "said", "skipped",
          tested_in="test_damaged_input"),
    Probe("scalars.csv with binary bytes", "run store",
          _damaged_scalars(lambda d: d[: len(d) // 2] + bytes(range(256)) + b"\n" + d[len(d) // 2:]), "said",
          "skipped", tested_in="test_damaged_input"),
    Probe("scalars.csv empty", "run store", _damaged_scalars(lambda d: b""), "said", "empty",
          tested_in="test_damaged_input"),
    Probe("stray file in predictions/", "run store",
          _damaged_predictions(lambda p: (p / "notes.parquet").write_text("hello")), "said", "notes.parquet"),
    Probe("corrupt parquet", "run store",
          _damaged_predictions(lambda p: _first_parquet(p).write_bytes(b"PAR1 not really")), "said", "could not read",
          tested_in="test_damaged_input"),
    Probe("parquet of another schema", "run store", _damaged_predictions(_other_schema), "said",
          "epoch-00009.parquet", tested_in="test_damaged_input"),
    Probe("manifest with wrong types", "run store", _manifest(lambda m: {**m, "landmarks": "Sella"}), "refused",
          "'landmarks' should be a list"),
    Probe("manifest not JSON", "run store", _manifest(lambda m: "{broken"), "refused", "unreadable manifest"),
    Probe("one damaged run among good ones", "run store",
          _manifest(lambda m: {**m, "config": "not a mapping"}, in_folder=True), "said", "skipped",
          tested_in="test_damaged_input"),
    Probe("manifest left at running by a killed writer", "run store", _left_running, "said",
          "stopped without recording how it ended"),
    # -------------------------------------------------------------- other tools' logs
    Probe("TensorBoard file cut short", "logs", _tensorboard("cut"), "said", "then stopped",
          tested_in="test_damaged_input"),
    Probe("TensorBoard record with a bad checksum", "logs", _tensorboard("flip"), "said", "then stopped",
          tested_in="test_damaged_input"),
    Probe("1e308 and inf in a CSV, HTML report", "logs", _huge_values, "said", "report written"),
    Probe("folders 1500 deep", "logs", _deep_folders, "said", "not searched"),
    Probe("escape sequences in names and paths", "logs", _escapes_in_names, "said", "\\x1b[2J"),
    Probe("a path with rich markup [/]", "logs", _markup_in_path, "said", "[bold]x"),
    # -------------------------------------------------------------- checkpoints
    Probe("empty checkpoint", "checkpoints", _compare(_empty_checkpoint), "refused", "empty"),
    Probe("random bytes as a checkpoint", "checkpoints", _compare(_noise_checkpoint), "refused",
          "not a PyTorch checkpoint"),
    Probe("bare pickle that would run code", "checkpoints", _compare(_pickle_with_code, sentinel=True), "refused",
          "not a PyTorch checkpoint"),
    Probe("torch file that would run code", "checkpoints", _compare(_torch_file_with_code, sentinel=True),
          "refused", "refused"),
    Probe("2^40-element tensor on 1 stored value", "checkpoints", _compare(_stride_zero), "refused", "storage of 1"),
    Probe("deflate bomb", "checkpoints", _compare(_deflate_bomb), "refused", "unpacks to"),
    Probe("--resume onto another model's checkpoint", "checkpoints", _resume_other_model, "refused",
          "written by another model"),
    # -------------------------------------------------------------- config values
    Probe("seed 2**32", "config", _train(f"seed={2**32}"), "refused", "seed", tested_in="test_config"),
    Probe("batch size 1e30", "config", _train("data.batch_size=1e30"), "refused", "data.batch_size",
          tested_in="test_config"),
    Probe("loader workers 1e30", "config", _train("data.num_workers=1e30"), "refused", "data.num_workers",
          tested_in="test_config"),
    Probe("early stopping on a metric never logged", "config", _train("train.early_stopping.metric=abc"), "refused",
          "'abc' is not a metric"),
    Probe("sequence dim not divisible by heads", "config",
          _train("model.head=sequence", "model.sequence.dim=30", "model.sequence.heads=4"), "refused",
          "not divisible", tested_in="test_config"),
    Probe("YAML bomb under a valid key", "config", _config_file(YAML_BOMB), "refused", "expands to more than"),
    Probe("YAML nested 100000 deep", "config", _config_file("a: " + "[" * 100_000 + "]" * 100_000 + "\n"), "refused",
          "config.yaml"),
    # -------------------------------------------------------------- writing, processes, the machine
    Probe("--resume with a damaged manifest", "writes", _resume_damaged_manifest, "refused", "model.arch"),
    Probe("--resume of a run another process trains", "writes", _resume_while_training, "refused",
          "is writing this run", tested_in="test_crash_safety"),
    Probe("SIGTERM during training", "writes", _terminated, "said", "interrupted",
          exit_code=128 + signal.SIGTERM, tested_in="test_crash_safety"),
    # Training prints its progress first: the error is its last line, and the exit code 2.
    Probe("disk full during training", "writes", _disk_full_training, "said", "No space left on device", exit_code=2,
          needs_mount=True),
    Probe("read-only output folder", "writes", _read_only_output, "refused", "Read-only file system",
          needs_mount=True),
    Probe("report to a full disk", "writes", _report_to_full_disk, "refused", "No space left on device",
          needs_mount=True),
]


def check_probe(probe: Probe, folder: Path, materials: Materials) -> None:
    """The test of one probe: skipped where it needs a mount the machine refuses; otherwise its verdict is "ok"."""
    import pytest

    if probe.needs_mount and not can_mount():
        pytest.skip("this machine does not let the tests mount a tmpfs")
    outcome = run_probe(probe, folder, materials)
    assert outcome.verdict == "ok", f"{outcome.verdict}\n{outcome.output[-3000:]}"


def suite_probes(groups: tuple[str, ...]) -> list[Probe]:
    """The probes of `groups` that no other test module checks in more detail."""
    return [probe for probe in PROBES if probe.group in groups and not probe.tested_in]

