"""Rule files: one YAML file per diagnosis, checked against a schema when loaded.

A rule names a problem (`id`), says when a run shows it (`when`, an expression over signals,
see `expr.py`), what to tell the user (`message`, a template quoting signal values, see
`evaluate.py`), and which config change fixes it (`fixes`, patches on canonical config keys).

    id: overfitting                       # kebab-case, stable, named after the problem
    severity: error                       # error | warning | info
    title: Validation worsens after an early best
    when: metric.rise_since_best > 0.1 and train_loss.change_since_best < 0
    message: "{metric.name} rose {metric.rise_since_best:.0%} after its best at epoch {epoch}"
    # or alternatives, the first whose `when` holds: [{when: has(heatmap.sigma), text: "…"}, {text: "…"}]
    epoch: metric.best_epoch              # optional: a signal whose value (unit epoch) or .epoch is the onset
    landmarks: landmark.regressed         # optional: a signal holding landmark names
    evidence: [metric.best, metric.last]  # signals quoted in the report
    requires: [metric.best]               # optional: signals needed beyond those in `when`
    explains: [missed-early-stop]         # optional: ids that fold under this one when both fire
    fixes:
      - {key: train.early_stopping.patience, op: enable, value: 5, reason: stop near the best epoch}
      - {key: optimizer.lr, op: multiply, value: 0.5, reason: …, when: not x.y}   # `when`: only where it holds
    docs: {what: "...", why: "...", fix: "..."}   # markdown

Any mistake is a `RuleError` naming the file and the field, raised at load time rather than
when a run happens to reach the broken part.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from ceph_doctor import bounded_yaml
from ceph_doctor.engine.diagnosis import SEVERITIES, Fix
from ceph_doctor.engine.messages import MessageTemplate
from ceph_doctor.engine.expr import Expression, ExpressionError, MissingSignal, parse, required_names
from ceph_doctor.engine.rule_schema import (  # noqa: F401 (RuleError is part of this module's interface)
    KEBAB_CASE, RuleError, check_fields, diagnosis_ids, fix_condition, fix_field, list_field, messages, optional_signal,
    signal_names, text_field,
)

BUILTIN_PACKAGE = "ceph_doctor.rules"  # the top-level rules/ folder, mapped in pyproject.toml
ABLATION_PACK = "ablate"  # rules/ablate/: judged on an ablation's parts (`ceph-doctor ablate`), not on one run
REQUIRED_FIELDS = ("id", "severity", "title", "when", "message", "evidence", "fixes", "docs")
OPTIONAL_FIELDS = ("epoch", "landmarks", "requires", "explains", "while_learning")
DOC_FIELDS = ("what", "why", "fix")


@dataclass(frozen=True)
class RuleDocs:
    what: str
    why: str
    fix: str


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title: str
    when: Expression
    message: MessageTemplate  # the default message
    evidence: tuple[str, ...]
    fixes: tuple[Fix, ...]
    docs: RuleDocs
    epoch: str | None = None
    landmarks: str | None = None
    requires: tuple[str, ...] = ()
    explains: tuple[str, ...] = ()  # ids this diagnosis is the cause of: they fold under it
    message_cases: tuple[tuple[Expression, MessageTemplate], ...] = ()  # tried before the default, in order
    fix_conditions: tuple[Expression | None, ...] = ()  # per fix: proposed only where it holds; None = always
    source: str = ""  # the file it was read from
    builtin: bool = False
    overrides: str | None = None  # for a user rule: the built-in file it replaces
    # The finding does not wait for the model to stop learning (its pace, its data loader): the live doctor tells it
    # even at a validation that set a new best, where it holds back findings about the model's state.
    while_learning: bool = False

    @functools.cached_property  # asked for every run analysed; the expression does not change
    def required_signals(self) -> tuple[str, ...]:
        """Signals without which the rule cannot be judged: those `when` reads, plus `requires`."""
        return tuple(sorted(required_names(self.when) | set(self.requires)))

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether `when` is true; MissingSignal passes through, a type error blames this file."""
        try:
            return self.when.holds(values)
        except ExpressionError as error:
            raise RuleError(self.source, "when", f"{error} in {self.when.source!r}") from None

    def fixes_for(self, values: Mapping[str, Any]) -> list[Fix]:
        """The fixes this run gets: each whose own `when` holds, or cannot be judged for want of a signal."""
        chosen = []
        for index, fix in enumerate(self.fixes):
            condition = self.fix_conditions[index] if index < len(self.fix_conditions) else None
            try:
                applies = condition is None or condition.holds(values)
            except MissingSignal:
                applies = True
            except ExpressionError as error:
                raise RuleError(self.source, f"fixes[{index}].when", f"{error} in {condition.source!r}") from None
            if applies:
                chosen.append(replace(fix))  # a copy: a renderer may annotate it
        return chosen


def load_rules(extra_dirs: Iterable[str | Path] = (), pack: str = "") -> list[Rule]:
    """The built-in rule pack plus the rules in `extra_dirs` (folders of *.yaml, or single files), by id.

    A user rule with the id of a built-in one replaces it (its `overrides` names the built-in
    file), so a team can retune a threshold without forking the pack. Two rules with one id
    inside the built-in pack, or anywhere among the user folders, are an error. `pack` names a
    sub-folder of the built-in pack judged on something other than one run (`ABLATION_PACK`).
    """
    if isinstance(extra_dirs, (str, Path)):
        extra_dirs = [extra_dirs]  # one folder given bare: not a sequence of one-letter paths
    builtin = _by_id(_builtin_rules(pack))
    user = _by_id([rule for folder in extra_dirs for rule in _folder_rules(Path(folder))])
    for rule_id, rule in user.items():
        if rule_id in builtin:
            user[rule_id] = replace(rule, overrides=builtin[rule_id].source)
    rules = sorted({**builtin, **user}.values(), key=lambda rule: rule.id)
    _check_explains_acyclic(rules)
    return rules


def _check_explains_acyclic(rules: list[Rule]) -> None:
    """`explains` must not loop (a explains b explains a): then neither could fold under the other."""
    edges = {rule.id: rule.explains for rule in rules}
    sources = {rule.id: rule.source for rule in rules}

    def visit(rule_id: str, path: tuple[str, ...]) -> None:
        for child in edges.get(rule_id, ()):
            if child in path:
                loop = " → ".join((*path[path.index(child):], child))
                raise RuleError(sources[rule_id], "explains", f"explains loops back: {loop}")
            visit(child, (*path, child))

    for rule_id in edges:
        visit(rule_id, (rule_id,))


def _by_id(rules: Iterable[Rule]) -> dict[str, Rule]:
    index: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in index:
            raise RuleError(rule.source, "id", f"duplicate id {rule.id!r}, also defined in {index[rule.id].source}")
        index[rule.id] = rule
    return index


def _is_rule_file(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) and not name.startswith(".")


@functools.lru_cache(maxsize=None)
def _builtin_rules(pack: str = "") -> tuple[Rule, ...]:
    # Parsed once per process: the pack ships with the package and does not change under it.
    try:
        folder: Any = resources.files(BUILTIN_PACKAGE)
    except ModuleNotFoundError:
        # Run from a source checkout that was never installed: the pack is the rules/ folder beside the package.
        folder = Path(__file__).resolve().parents[2] / "rules"
        if not folder.is_dir():
            return ()
    if pack:
        folder = folder.joinpath(pack)
    entries = sorted((entry for entry in folder.iterdir() if _is_rule_file(entry.name)), key=lambda entry: entry.name)
    return tuple(parse_rule(entry.read_text(encoding="utf-8"), str(entry), builtin=True) for entry in entries)


def _folder_rules(folder: Path) -> list[Rule]:
    if folder.is_file():
        files = [folder]
    elif folder.is_dir():
        files = sorted(path for path in folder.iterdir() if path.is_file() and _is_rule_file(path.name))
        if not files:
            raise RuleError(folder, None, "no rule files (*.yaml) in this folder")
    else:
        raise RuleError(folder, None, "rules folder not found")
    rules = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise RuleError(path, None, f"cannot read rule file ({error})") from None
        rules.append(parse_rule(text, str(path)))
    return rules


def parse_rule(text: str, source: str = "<rule>", builtin: bool = False) -> Rule:
    """A `Rule` from the YAML text of one rule file, or a `RuleError` naming `source` and the field."""
    try:
        data = bounded_yaml.load(text, bounded_yaml.SHIPPED_FILE_LOADER if builtin else yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise RuleError(where, None, f"invalid YAML ({getattr(error, 'problem', None) or error})") from None
    if not isinstance(data, dict):
        raise RuleError(source, None, "a rule file must be a mapping of fields (id, severity, title, …)")
    check_fields(source, "", data, REQUIRED_FIELDS, OPTIONAL_FIELDS)
    fail = lambda field, problem: RuleError(source, field, problem)  # noqa: E731

    rule_id = text_field(source, "id", data["id"])
    if not KEBAB_CASE.match(rule_id):
        raise fail("id", f"{rule_id!r} is not kebab-case (lowercase words joined by '-', e.g. prediction-collapse)")
    if data["severity"] not in SEVERITIES:
        raise fail("severity", f"{data['severity']!r} is not one of {', '.join(SEVERITIES)}")
    title = text_field(source, "title", data["title"])
    if "\n" in title.strip():
        raise fail("title", "a title is one line")
    try:
        when = parse(text_field(source, "when", data["when"]))
    except ExpressionError as error:
        raise fail("when", f"{error} in {data['when']!r}") from None
    message, message_cases = messages(source, data["message"])
    fix_items = list_field(source, "fixes", data["fixes"])
    docs = data["docs"]
    if not isinstance(docs, dict):
        raise fail("docs", f"expected a mapping with {', '.join(DOC_FIELDS)}")
    check_fields(source, "docs.", docs, DOC_FIELDS, ())
    return Rule(
        id=rule_id,
        severity=data["severity"],
        title=title.strip(),
        when=when,
        message=message,
        evidence=signal_names(source, "evidence", data["evidence"]),
        fixes=tuple(fix_field(source, f"fixes[{i}]", item, conditional=True) for i, item in enumerate(fix_items)),
        fix_conditions=tuple(fix_condition(source, f"fixes[{i}]", item) for i, item in enumerate(fix_items)),
        docs=RuleDocs(**{field: text_field(source, f"docs.{field}", docs[field]) for field in DOC_FIELDS}),
        epoch=optional_signal(source, "epoch", data.get("epoch")),
        landmarks=optional_signal(source, "landmarks", data.get("landmarks")),
        requires=signal_names(source, "requires", data.get("requires", [])),
        explains=diagnosis_ids(source, "explains", data.get("explains", []), rule_id),
        while_learning=_flag(source, "while_learning", data.get("while_learning", False)),
        message_cases=message_cases,
        source=source,
        builtin=builtin,
    )


def _flag(source: str, field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise RuleError(source, field, f"expected true or false, found {value!r}")
    return value
