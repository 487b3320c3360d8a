"""Stage rule files: the verdicts of a staged check (the single-image overfit check), loaded and checked.

A staged check measures one thing per stage and emits signals; a stage file says when that stage
passes and, when it does not, which cause is most likely, in order: the first cause whose `when`
holds is the verdict. Files live in `rules/sanity/`, one per stage, ordered by `order`:

    stage: loss_falls                     # snake_case: the function that judges it in Python
    order: 1
    title: loss falls by orders of magnitude
    passes: sanity.loss.finite and sanity.loss.ratio < 0.05
    skipped: "the pipeline gives no heatmaps"  # optional: said when a signal `passes` reads is absent
    message: "loss ×{sanity.loss.ratio:.2g} …"  # one text, or alternatives [{when, text}, …, {text}]
    evidence: [sanity.loss.ratio, heatmap.sigma]
    causes:                               # tried in order; the last may have no `when`
      - when: not sanity.loss.finite
        cause: "the loss became NaN/Inf …"            # a message template
        advice: "…"                                   # optional: what to change in code of your own
        fixes: [{key: optimizer.lr, op: multiply, value: 0.1, reason: …}]   # canonical config patches
        diagnosis: diverged                           # optional: the related `rules explain` id
      - rule: sigma-too-small             # a rule of the analysis pack: its `when`, fixes and id
        cause: "…"
      - eval-mode-differs                 # a cause shared by several stages, defined in causes.yaml

While the stages are judged in order, `sanity.passed.<stage>` holds each verdict so far, so a later
stage's cause can say "the earlier stage passed, yet …". Threshold and wording live in these files;
the code that measures never judges.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from ceph_doctor import bounded_yaml
from ceph_doctor.engine.diagnosis import Fix
from ceph_doctor.engine.expr import Expression, ExpressionError, MissingSignal, parse
from ceph_doctor.engine.messages import MessageTemplate
from ceph_doctor.engine.rule_schema import (
    KEBAB_CASE, RuleError, check_fields, fix_field, list_field, messages, signal_names, text_field,
)
from ceph_doctor.engine.rules import BUILTIN_PACKAGE, Rule, load_rules

STAGE_FOLDER = "sanity"
SHARED_CAUSES = "causes.yaml"
STAGE_FIELDS = ("stage", "order", "title", "passes", "message", "evidence", "causes")
CAUSE_FIELDS = ("when", "rule", "advice", "fixes", "diagnosis")  # beside the one required, `cause`


@dataclass(frozen=True)
class Cause:
    cause: MessageTemplate
    when: Expression | None = None  # None: holds whenever it is reached (the last resort)
    advice: MessageTemplate | None = None
    fixes: tuple[Fix, ...] = ()
    diagnosis: str | None = None
    rule: Rule | None = None  # borrowed from the analysis pack: its condition, and its fixes unless given

    def holds(self, values: Mapping[str, Any]) -> bool:
        condition = self.rule.when if self.rule is not None else self.when
        try:
            return condition is None or condition.holds(values)
        except MissingSignal:  # measured only in some pipelines (heatmaps, sequences): not this cause
            return False


@dataclass(frozen=True)
class StageRule:
    stage: str
    order: int
    title: str
    passes: Expression
    message: MessageTemplate
    message_cases: tuple[tuple[Expression, MessageTemplate], ...]
    evidence: tuple[str, ...]
    causes: tuple[Cause, ...]
    skipped: str = ""
    source: str = ""


@functools.lru_cache(maxsize=1)
def load_stage_rules() -> tuple[StageRule, ...]:
    """The built-in stage rules, in stage order; a `RuleError` naming the file and field for any mistake."""
    folder = _stage_folder()
    analysis = {rule.id: rule for rule in load_rules()}
    shared_file = folder / SHARED_CAUSES
    shared = _shared_causes(shared_file.read_text(encoding="utf-8"), str(shared_file), analysis)
    entries = sorted(entry for entry in folder.iterdir()
                     if entry.name.endswith(".yaml") and entry.name != SHARED_CAUSES)
    rules = [parse_stage_rule(entry.read_text(encoding="utf-8"), str(entry), shared, analysis) for entry in entries]
    orders = [rule.order for rule in rules]
    if len(set(orders)) != len(orders):
        raise RuleError(folder, "order", f"two stages share an order: {sorted(orders)}")
    return tuple(sorted(rules, key=lambda rule: rule.order))


def _stage_folder() -> Any:
    try:
        return resources.files(BUILTIN_PACKAGE) / STAGE_FOLDER
    except ModuleNotFoundError:  # a source checkout never installed: rules/ beside the package
        return Path(__file__).resolve().parents[2] / "rules" / STAGE_FOLDER


def parse_stage_rule(text: str, source: str, shared: Mapping[str, Cause] | None = None,
                     analysis: Mapping[str, Rule] | None = None) -> StageRule:
    data = _mapping(text, source)
    check_fields(source, "", data, STAGE_FIELDS, ("skipped",))
    stage = text_field(source, "stage", data["stage"])
    if not stage.isidentifier() or stage != stage.lower():
        raise RuleError(source, "stage", f"{stage!r} is not a snake_case name (e.g. loss_falls)")
    if not isinstance(data["order"], int) or isinstance(data["order"], bool):
        raise RuleError(source, "order", f"expected a whole number, found {data['order']!r}")
    message, message_cases = messages(source, data["message"])
    causes = []
    for index, item in enumerate(list_field(source, "causes", data["causes"])):
        field_name = f"causes[{index}]"
        if isinstance(item, str):
            if item not in (shared or {}):
                raise RuleError(source, field_name, f"no shared cause {item!r} in {SHARED_CAUSES}")
            causes.append(shared[item])
        else:
            causes.append(_cause(source, field_name, item, analysis or {}))
    if not causes or causes[-1].when is not None or causes[-1].rule is not None:
        raise RuleError(source, "causes", "the last cause has no when: it is the verdict when nothing else holds")
    return StageRule(
        stage=stage, order=data["order"], title=text_field(source, "title", data["title"]).strip(),
        passes=_expression(source, "passes", data["passes"]), message=message, message_cases=message_cases,
        evidence=signal_names(source, "evidence", data["evidence"]), causes=tuple(causes),
        skipped=text_field(source, "skipped", data["skipped"]).strip() if "skipped" in data else "", source=source,
    )


def _shared_causes(text: str, source: str, analysis: Mapping[str, Rule]) -> dict[str, Cause]:
    data = _mapping(text, source)
    for name in data:
        if not isinstance(name, str) or not KEBAB_CASE.match(name):
            raise RuleError(source, str(name), "a shared cause is named in kebab-case, e.g. eval-mode-differs")
    return {name: _cause(source, name, item, analysis) for name, item in data.items()}


def _cause(source: str, field_name: str, item: Any, analysis: Mapping[str, Rule]) -> Cause:
    if not isinstance(item, dict):
        raise RuleError(source, field_name, "expected a mapping with cause (and when, advice, fixes, diagnosis)")
    check_fields(source, f"{field_name}.", item, ("cause",), CAUSE_FIELDS)
    if "when" in item and "rule" in item:
        raise RuleError(source, field_name, "a cause has a when or borrows a rule's, not both")
    rule = None
    if "rule" in item:
        rule = analysis.get(item["rule"])
        if rule is None:
            raise RuleError(source, f"{field_name}.rule", f"no analysis rule {item['rule']!r}")
    fixes = list_field(source, f"{field_name}.fixes", item.get("fixes", []))
    diagnosis = item.get("diagnosis")
    if diagnosis is not None and not (isinstance(diagnosis, str) and KEBAB_CASE.match(diagnosis)):
        raise RuleError(source, f"{field_name}.diagnosis", f"{diagnosis!r} is not a diagnosis id (kebab-case)")
    if not (item.get("advice") or fixes or (rule is not None and rule.fixes)):
        raise RuleError(source, field_name, "a cause says how to fix it: advice, fixes, or both")
    return Cause(
        cause=_template(source, f"{field_name}.cause", item["cause"]),
        when=_expression(source, f"{field_name}.when", item["when"]) if "when" in item else None,
        advice=_template(source, f"{field_name}.advice", item["advice"]) if "advice" in item else None,
        fixes=tuple(fix_field(source, f"{field_name}.fixes[{i}]", fix) for i, fix in enumerate(fixes)),
        diagnosis=diagnosis,
        rule=rule,
    )


def _mapping(text: str, source: str) -> dict:
    try:
        data = bounded_yaml.load(text)
    except yaml.YAMLError as error:
        raise RuleError(source, None, f"invalid YAML ({getattr(error, 'problem', None) or error})") from None
    if not isinstance(data, dict):
        raise RuleError(source, None, "expected a mapping of fields")
    return data


def _expression(source: str, field_name: str, text: Any) -> Expression:
    try:
        return parse(text_field(source, field_name, text))
    except ExpressionError as error:
        raise RuleError(source, field_name, f"{error} in {text!r}") from None


def _template(source: str, field_name: str, text: Any) -> MessageTemplate:
    try:
        return MessageTemplate(" ".join(text_field(source, field_name, text).split()))
    except ValueError as error:
        raise RuleError(source, field_name, str(error)) from None
