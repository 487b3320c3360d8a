"""The rule engine: rule files and their schema, diagnosing signals, applying fixes, the `rules` commands."""

import json
import re
from importlib import resources
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from click.testing import CliRunner

from ceph_doctor.cli.rules_command import rules_app
from ceph_doctor.config import load_config
from ceph_doctor.engine import Fix, RuleError, apply_fixes, diagnose, emit_config, load_rules
from ceph_doctor.engine.messages import MessageTemplate
from ceph_doctor.engine.expr import names
from ceph_doctor.engine.rules import parse_rule
from ceph_doctor.errors import ConfigError, UserInputError
from ceph_doctor.signals.base import REGISTRY, Signal, SignalSet

# Three example rules, written the way a user would write them.
COLLAPSE = {
    "id": "test-collapse",
    "severity": "error",
    "title": "Predictions bunch together",
    "when": "collapse.spread_ratio < 0.3 and (not has(metric.rise) or metric.rise > 0.1)",
    "message": "Spread fell to {collapse.spread_ratio:.2f} of the truth's at epoch {epoch} ({landmarks}); "
               "{metric.name} peaked at epoch {metric.best@epoch}. Literal {{braces}}.",
    "epoch": "collapse.onset_epoch",
    "landmarks": "collapse.landmarks",
    "evidence": ["collapse.spread_ratio", "collapse.spread_drop", "collapse.landmarks", "metric.best"],
    "fixes": [
        {"key": "optimizer.lr", "op": "multiply", "value": 0.2, "reason": "smaller steps keep the heatmaps apart"},
        {"key": "train.early_stopping.patience", "op": "enable", "reason": "stop near the best epoch"},
    ],
    "docs": {"what": "Predictions cluster.", "why": "Every landmark is wrong.", "fix": "Lower the **lr**."},
}
SLOW = {
    "id": "test-slow",
    "severity": "warning",
    "title": "Training is slow",
    "when": "train_loss.slope > -0.01",
    "message": "The loss falls only {train_loss.slope:.1%} per epoch.",
    "evidence": ["train_loss.slope"],
    "fixes": [{"key": "optimizer.lr", "op": "multiply", "value": 3, "reason": "learn faster"}],
    "docs": {"what": "w", "why": "y", "fix": "f"},
}
NOTE = {
    "id": "test-note",
    "severity": "info",
    "title": "A note",
    "when": "metric.best < 5",
    "message": "Best {metric.best} mm.",
    "requires": ["collapse.spread_ratio"],
    "evidence": [],
    "fixes": [],
    "docs": {"what": "w", "why": "y", "fix": "f"},
}


ANY_SIGNAL_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4),
    st.lists(st.text(max_size=3), max_size=12),
)


def write_rules(folder: Path, *rules: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for rule in rules:
        (folder / f"{rule['id']}.yaml").write_text(yaml.safe_dump(rule, sort_keys=False))
    return folder


def signal_set(missing=None, **values) -> SignalSet:
    signals = SignalSet(missing=dict(missing or {}))
    for name, value in values.items():
        signal = value if isinstance(value, Signal) else Signal(name.replace("__", "."), value)
        signals.values[signal.name] = signal
    return signals


def collapsed_run(**changes) -> SignalSet:
    values = dict(
        collapse__spread_ratio=0.1234,
        collapse__spread_drop=float("nan"),
        collapse__onset_epoch=Signal("collapse.onset_epoch", 12, "epoch", 12),
        collapse__landmarks=["Sella", "Nasion"],
        metric__rise=0.25,
        metric__name="val/mre_mm",
        metric__best=Signal("metric.best", 2.345678, "mm", 7),
    )
    return signal_set(**{**values, **changes})


def test_user_rules_load_beside_the_built_in_pack(tmp_path):
    rules = load_rules(write_rules(tmp_path / "mine", COLLAPSE, SLOW, NOTE))  # one folder, given bare
    ids = [rule.id for rule in rules]
    assert {"test-collapse", "test-slow", "test-note"} <= set(ids)
    assert ids == sorted(ids)
    collapse = next(rule for rule in rules if rule.id == "test-collapse")
    assert collapse.required_signals == ("collapse.spread_ratio",)  # metric.rise is guarded by has()
    assert collapse.fixes[1].value == 5  # enable without a value: the key's usual on-value
    assert not collapse.builtin and collapse.source.endswith("test-collapse.yaml")


def test_the_built_in_pack_is_found_through_the_installed_package():
    shipped = {entry.name for entry in resources.files("ceph_doctor.rules").iterdir() if entry.name.endswith(".yaml")}
    in_repo = {path.name for path in (Path(__file__).parents[1] / "rules").glob("*.yaml")}
    assert shipped == in_repo
    assert len([rule for rule in load_rules() if rule.builtin]) == len(in_repo)


def test_a_user_rule_replaces_the_built_in_with_its_id(tmp_path):
    builtin = load_rules()
    if not builtin:
        pytest.skip("no built-in rules yet")
    target = builtin[0]
    rules = load_rules([write_rules(tmp_path, {**SLOW, "id": target.id})])
    replaced = next(rule for rule in rules if rule.id == target.id)
    assert len(rules) == len(builtin)
    assert not replaced.builtin and replaced.overrides == target.source


def test_duplicate_ids_across_user_folders_are_an_error(tmp_path):
    write_rules(tmp_path / "a", SLOW)
    write_rules(tmp_path / "b", {**SLOW, "title": "again"})
    with pytest.raises(RuleError) as raised:
        load_rules([tmp_path / "a", tmp_path / "b"])
    assert raised.value.field == "id" and "test-slow" in str(raised.value)
    assert str(tmp_path / "a") in str(raised.value) and str(tmp_path / "b") in str(raised.value)


def broken(change):
    rule = yaml.safe_load(yaml.safe_dump(COLLAPSE))
    change(rule)
    return rule


@pytest.mark.parametrize(
    "change, field, fragment",
    [
        (lambda r: r.update(colour="red"), "colour", "unknown field"),
        (lambda r: r.update(whne=r.pop("when")), "whne", "did you mean 'when'"),
        (lambda r: r.pop("docs"), "docs", "missing field"),
        (lambda r: r.pop("evidence"), "evidence", "missing field"),
        (lambda r: r.update(severity="fatal"), "severity", "error, warning, info"),
        (lambda r: r.update(id="Test_Collapse"), "id", "kebab-case"),
        (lambda r: r.update(when="collapse.spread_ratio < )"), "when", "column 25"),
        (lambda r: r.update(when="__import__('os')"), "when", "'__import__' is not"),
        (lambda r: r.update(message="{collapse.spread_ratio:.2z}"), "message", "format spec"),
        (lambda r: r.update(message="{x.__class__}"), "message", "signal name"),
        (lambda r: r.update(message="open { brace"), "message", "unmatched"),
        (lambda r: r.update(message="{collapse.spread_ratio@colour}"), "message", "epoch, unit or when"),
        (lambda r: r.update(evidence="collapse.spread_ratio"), "evidence", "expected a list"),
        (lambda r: r.update(epoch="not a name"), "epoch", "not a signal name"),
        (lambda r: r["fixes"][0].update(key="optimizer.learning_rate"), "fixes[0].key", "unknown config key"),
        (lambda r: r["fixes"][0].update(op="divide"), "fixes[0].op", "set, multiply, enable"),
        (lambda r: r["fixes"][0].update(value=-2), "fixes[0].value", "positive factor"),
        (lambda r: r["fixes"][0].update(key="data.augment"), "fixes[0].value", "numeric key"),
        (lambda r: r["fixes"][1].update(key="train.scheduled_sampling"), "fixes[1].value", "no default on-value"),
        (lambda r: r["fixes"][1].update(key="codec.sigma", op="set", value=-1), "fixes[1].value", "out of range"),
        (lambda r: r["fixes"][1].pop("reason"), "fixes[1].reason", "missing field"),
        (lambda r: r["docs"].pop("why"), "docs.why", "missing field"),
    ],
)
def test_a_bad_rule_file_is_one_line_naming_file_and_field(tmp_path, change, field, fragment):
    folder = write_rules(tmp_path, broken(change))
    with pytest.raises(RuleError) as raised:
        load_rules([folder])
    error = raised.value
    assert isinstance(error, UserInputError)
    assert error.field == field
    assert fragment in str(error)
    assert str(error).startswith(str(folder)) and "\n" not in str(error)


def test_invalid_yaml_and_missing_folders_are_rule_errors(tmp_path):
    (tmp_path / "bad.yaml").write_text("id: x\nwhen: [unclosed\n")
    with pytest.raises(RuleError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_rules([tmp_path])
    with pytest.raises(RuleError, match="not found"):
        load_rules([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuleError, match="no rule files"):
        load_rules([tmp_path / "empty"])


def test_a_rule_fires_with_its_message_epoch_landmarks_evidence_and_fixes():
    rules = [parse_rule(yaml.safe_dump(rule), f"{rule['id']}.yaml") for rule in (COLLAPSE, SLOW, NOTE)]
    diagnoses, not_checked = diagnose(collapsed_run(), rules)
    assert [d.id for d in diagnoses] == ["test-collapse", "test-note"]
    collapse = diagnoses[0]
    assert collapse.message == (
        "Spread fell to 0.12 of the truth's at epoch 12 (Sella, Nasion); "
        "val/mre_mm peaked at epoch 7. Literal {braces}."
    )
    assert collapse.epoch == 12 and collapse.landmarks == ["Sella", "Nasion"]
    assert collapse.evidence == {
        "collapse.spread_ratio": 0.1234, "collapse.spread_drop": None, "collapse.landmarks": ["Sella", "Nasion"],
        "metric.best": 2.346,
    }
    json.dumps(collapse.to_json(), allow_nan=False)  # the analyze JSON contract: NaN is null, all serialisable
    assert [(f.key, f.op, f.value) for f in collapse.fixes] == [
        ("optimizer.lr", "multiply", 0.2), ("train.early_stopping.patience", "enable", 5),
    ]
    assert [n.signal for n in not_checked] == ["train_loss.slope"]


def test_a_rule_stays_quiet_when_its_condition_is_false():
    rules = [parse_rule(yaml.safe_dump(COLLAPSE), "c.yaml")]
    assert diagnose(collapsed_run(metric__rise=0.05), rules) == ([], [])  # has(metric.rise) and it is small
    assert diagnose(collapsed_run(metric__rise=float("nan")), rules) == ([], [])  # NaN compares false
    assert diagnose(collapsed_run(collapse__spread_ratio=0.5), rules) == ([], [])


def test_diagnoses_are_sorted_by_severity_then_id():
    rules = [
        parse_rule(yaml.safe_dump({**SLOW, "id": i, "severity": s}), f"{i}.yaml")
        for i, s in [("b-info", "info"), ("z-error", "error"), ("a-warning", "warning"), ("a-error", "error")]
    ]
    diagnoses, _ = diagnose(signal_set(train_loss__slope=0.0), rules)
    assert [d.id for d in diagnoses] == ["a-error", "z-error", "a-warning", "b-info"]


def test_missing_signals_are_not_checked_once_each_with_what_to_log():
    needs = "log val/mre_mm predictions at each validation"
    rules = [parse_rule(yaml.safe_dump(rule), "r.yaml") for rule in (COLLAPSE, {**COLLAPSE, "id": "second"}, SLOW)]
    diagnoses, not_checked = diagnose(signal_set(missing={"collapse": needs}), rules)
    assert diagnoses == []
    assert [(n.signal, n.needs) for n in not_checked] == [
        ("collapse.spread_ratio", needs),
        ("train_loss.slope", not_checked[1].needs),
    ]
    assert "train_loss.slope" in not_checked[1].needs  # no family reported it missing: say which signal


def test_a_name_read_outside_its_guard_is_not_checked_rather_than_a_crash():
    rule = parse_rule(yaml.safe_dump({**SLOW, "when": "(has(x.y) and x.y > 1) or x.y > 2"}), "r.yaml")
    assert rule.required_signals == ()
    diagnoses, not_checked = diagnose(signal_set(), [rule])
    assert diagnoses == [] and [n.signal for n in not_checked] == ["x.y"]


def test_a_type_error_in_a_condition_blames_the_rule_file():
    rule = parse_rule(yaml.safe_dump({**SLOW, "when": "train_loss.slope > 1"}), "my/rule.yaml")
    with pytest.raises(RuleError, match=r"my/rule\.yaml: when: cannot compare a string > a number"):
        diagnose(signal_set(train_loss__slope="fast"), [rule])


def test_the_onset_epoch_is_an_epoch_valued_signal_or_the_signal_epoch():
    rule = parse_rule(yaml.safe_dump({**SLOW, "epoch": "train_loss.slope"}), "r.yaml")
    by_unit = diagnose(signal_set(train_loss__slope=Signal("train_loss.slope", 0.5, "ratio", 9)), [rule])[0]
    assert by_unit[0].epoch == 9
    rule = parse_rule(yaml.safe_dump({**SLOW, "epoch": "onset.epoch"}), "r.yaml")
    onset = Signal("onset.epoch", 4.0, "epoch", 30)
    by_value = diagnose(signal_set(train_loss__slope=0.5, onset__epoch=onset), [rule])[0]
    assert by_value[0].epoch == 4


def test_template_values_are_substituted_not_formatted_as_code():
    rule = parse_rule(yaml.safe_dump({**SLOW, "when": "true", "message": "{train_loss.slope} and {missing.one:.2f}"}))
    diagnoses, _ = diagnose(signal_set(train_loss__slope="{0.__class__}"), [rule])
    assert diagnoses[0].message == "{0.__class__} and n/a"


def test_an_optional_clause_is_said_only_when_its_values_are_known():
    template = MessageTemplate("loss {train_loss.slope:.1f}[[; the gap moved {gap.change:+.0%}]].")
    assert template.names == ("train_loss.slope", "gap.change")
    known = {"train_loss.slope": Signal("train_loss.slope", 0.5)}
    assert template.render(known) == "loss 0.5."
    assert template.render({**known, "gap.change": Signal("gap.change", 0.25)}) == "loss 0.5; the gap moved +25%."
    with pytest.raises(ValueError, match=r"unmatched '\[\['"):
        MessageTemplate("a [[ b")


def test_message_alternatives_the_first_that_holds():
    rule = parse_rule(yaml.safe_dump({**SLOW, "when": "true", "message": [
        {"when": "has(gap.change)", "text": "gap {gap.change}"}, {"text": "slope {train_loss.slope}"}]}))
    assert diagnose(signal_set(train_loss__slope=0.5), [rule])[0][0].message == "slope 0.5"
    assert diagnose(signal_set(train_loss__slope=0.5, gap__change=2), [rule])[0][0].message == "gap 2"
    with pytest.raises(RuleError, match="message\\[0\\]"):
        parse_rule(yaml.safe_dump({**SLOW, "message": [{"text": "no when"}, {"text": "default"}]}))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{}:@.abe0123%fgd+-[] ", max_size=30), ANY_SIGNAL_VALUE)
def test_any_template_is_accepted_or_rejected_and_never_fails_to_render(text, value):
    try:
        template = MessageTemplate(text)
    except ValueError:
        return
    assert isinstance(template.render({name: Signal(name, value) for name in template.names}, 3, ["A"]), str)


# ---------------------------------------------------------------- fixes


def test_a_multiply_fix_patches_a_validated_copy_and_says_what_changed():
    config = load_config(None, ["optimizer.lr=0.002"])
    patched, lines = apply_fixes(config, [Fix("optimizer.lr", "multiply", 0.2, "smaller steps")])
    assert patched["optimizer"]["lr"] == 0.0004  # rounded: not 0.0004000000000000001
    assert config["optimizer"]["lr"] == 0.002  # the input is left alone
    assert lines == ["optimizer.lr: 0.002 → 0.0004 (× 0.2: smaller steps)"]


def test_one_value_per_key_the_first_asking_decides_and_factors_never_compound():
    config = load_config(None, ["optimizer.lr=0.002"])
    def scale(*factors):
        return [Fix("optimizer.lr", "multiply", factor, reason) for factor, reason in zip(factors, "ab", strict=True)]

    lr, lines = apply_fixes(config, scale(0.5, 0.4))
    assert lr["optimizer"]["lr"] == pytest.approx(0.001)  # × 0.5, not × 0.2
    assert "instead of × 0.4" in lines[0]
    same, lines = apply_fixes(config, scale(0.2, 0.2))
    assert same["optimizer"]["lr"] == pytest.approx(0.0004) and "a; b" in lines[0]
    for order in (1, -1):
        fixes = [Fix("train.max_epochs", "multiply", 0.5, "m"), Fix("train.max_epochs", "set", 20, "s"),
                 Fix("train.max_epochs", "set", 40, "later")][::order]
        expected = 15 if fixes[0].op == "multiply" else fixes[0].value  # defaults: 30 epochs
        assert apply_fixes(config, fixes)[0]["train"]["max_epochs"] == expected


def test_a_change_that_changes_nothing_is_no_step_of_the_plan():
    from ceph_doctor.engine.plan import plan_fixes

    config = load_config(None, ["optimizer.weight_decay=0", "train.early_stopping.patience=5"])
    plan = plan_fixes([("overfitting", Fix("optimizer.weight_decay", "multiply", 10.0, "regularise")),
                       ("missed-early-stop", Fix("train.early_stopping.patience", "enable", 5, "stop")),
                       ("lr-too-high", Fix("train.grad_clip", "enable", 1.0, "clip"))], config)
    assert [step.key for step in plan.steps] == ["train.grad_clip"]
    assert plan.steps[0].change == "off → 1" and plan.steps[0].set_option == "--set train.grad_clip=1"
    assert {key for key, _, _ in plan.unchanged} == {"optimizer.weight_decay", "train.early_stopping.patience"}


def test_enable_int_rounding_and_null_keys():
    config = load_config(None, ["data.batch_size=2"])
    patched, lines = apply_fixes(config, [
        Fix("train.ema", "enable", 0.999, "smooth"),
        Fix("data.batch_size", "multiply", 0.1, "small"),
        Fix("train.grad_clip", "multiply", 0.5, "halve"),
    ])
    assert patched["train"]["ema"] == 0.999
    assert patched["data"]["batch_size"] == 1  # rounded, kept in range
    assert patched["train"]["grad_clip"] is None and "not applied" in lines[2]  # nothing to multiply
    with pytest.raises(ConfigError):
        apply_fixes(config, [Fix("optimizer.lr", "set", -1.0, "bad")])


def test_emitted_config_trains_as_is(tmp_path):
    rules = [parse_rule(yaml.safe_dump(COLLAPSE), "c.yaml")]
    diagnoses, _ = diagnose(collapsed_run(), rules)
    patched, lines = apply_fixes(load_config(None, ["optimizer.lr=0.002"]), [fix for d in diagnoses for fix in d.fixes])
    path = emit_config(tmp_path / "fixed.yaml", patched, lines)
    assert load_config(path) == patched  # what `ceph-doctor train --config fixed.yaml` reads
    text = path.read_bytes().decode("ascii")
    assert "# " in text and "optimizer.lr: 0.002 -> 0.0004" in text


# ---------------------------------------------------------------- the built-in pack and the CLI

BUILTIN_FILES = sorted(
    (entry for entry in resources.files("ceph_doctor.rules").iterdir() if entry.name.endswith(".yaml")),
    key=lambda entry: entry.name,
)
DECLARED = {name for family in REGISTRY.values() for name in family.provides}


@pytest.mark.parametrize("entry", BUILTIN_FILES, ids=[entry.name for entry in BUILTIN_FILES])
def test_built_in_rules_are_valid_and_read_only_declared_signals(entry):
    rule = parse_rule(entry.read_text(encoding="utf-8"), str(entry))
    assert entry.name == f"{rule.id}.yaml"  # one file per rule, named after its id
    used = names(rule.when) | set(rule.requires) | set(rule.evidence) | set(rule.message.names)
    for condition, template in rule.message_cases:
        used |= names(condition) | set(template.names)
    used |= {name for name in (rule.epoch, rule.landmarks) if name}
    assert used <= DECLARED, f"{rule.source}: no signal family provides {sorted(used - DECLARED)}"


def test_rules_list_shows_every_rule_with_its_source(tmp_path):
    folder = write_rules(tmp_path / "mine", SLOW)
    result = CliRunner().invoke(rules_app, ["list", "--rules", str(folder)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for rule in [*load_rules(), parse_rule(yaml.safe_dump(SLOW))]:
        assert rule.id in result.output
    # A long folder folds over several lines of the source column: read the column's text joined up.
    assert "test-slow.yaml" in re.sub(r"[\s│]", "", result.output)


def test_rules_explain_renders_docs_condition_and_fixes(tmp_path):
    folder = write_rules(tmp_path, COLLAPSE)
    result = CliRunner().invoke(rules_app, ["explain", "test-collapse", "--rules", str(folder)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for fragment in ["Predictions cluster.", "Every landmark is wrong.", "collapse.spread_ratio < 0.3",
                     "optimizer.lr", "train.early_stopping.patience"]:
        assert fragment in result.output


def test_rules_explain_unknown_id_names_the_valid_ones(tmp_path):
    result = CliRunner().invoke(rules_app, ["explain", "test-colapse", "--rules", str(write_rules(tmp_path, COLLAPSE))])
    assert isinstance(result.exception, UserInputError)
    assert "test-collapse" in str(result.exception) and "valid ids" in str(result.exception)


@pytest.mark.parametrize("command", [[], ["list"], ["explain"]])
def test_every_help_ends_with_an_example(command):
    result = CliRunner().invoke(rules_app, [*command, "--help"], env={"COLUMNS": "200"})
    last = [line.strip(" │") for line in result.output.splitlines() if line.strip(" │")][-1]
    assert last.startswith("Example: ceph-doctor rules")


# ------------------------------------------------------------- explains
def test_a_diagnosis_folds_what_it_explains_along_the_chain(tmp_path):
    cause = {**SLOW, "id": "test-cause", "severity": "error", "when": "true", "explains": ["test-middle"]}
    middle = {**SLOW, "id": "test-middle", "when": "true", "explains": ["test-slow"]}
    rules = [parse_rule(yaml.safe_dump(rule)) for rule in (cause, middle, SLOW)]
    diagnoses, _ = diagnose(signal_set(train_loss__slope=0.5), rules)
    assert [d.id for d in diagnoses] == ["test-cause"]
    assert sorted(d.id for d in diagnoses[0].explains) == ["test-middle", "test-slow"]
    alone, _ = diagnose(signal_set(train_loss__slope=0.5), rules[1:])  # the cause did not fire: the middle leads
    assert [d.id for d in alone] == ["test-middle"] and [d.id for d in alone[0].explains] == ["test-slow"]


def test_explains_that_loops_back_is_refused(tmp_path):
    first = {**SLOW, "id": "test-first", "explains": ["test-second"]}
    second = {**SLOW, "id": "test-second", "explains": ["test-first"]}
    with pytest.raises(RuleError, match="explains loops back: test-first → test-second → test-first"):
        load_rules([write_rules(tmp_path, first, second)])
