"""`ceph-doctor rules list | explain ID`: what the diagnosis rules are and what each one means.

Registered in cli/main.py with `app.add_command(rules_app, name="rules")`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import click
from rich.console import Console
from rich.table import Table

from ceph_doctor.cli.help_text import PATH, CommandGroup, example
from ceph_doctor.errors import UserInputError

if TYPE_CHECKING:  # the rule engine is loaded by the commands that read rules, not by `ceph-doctor --help`
    from ceph_doctor.engine.rules import Rule

SEVERITY_STYLES = {"error": "bold red", "warning": "yellow", "info": "cyan"}
OP_SYMBOLS = {"set": "=", "multiply": "×", "enable": "enable →"}


@click.group(cls=CommandGroup, epilog=example("ceph-doctor rules explain overfitting"), no_args_is_help=True)
def rules_app() -> None:
    """List the diagnosis rules and explain what each one checks and how to fix it."""


def rules_option(command):
    return click.option("--rules", "rules_dirs", type=PATH, multiple=True,
                        help="A folder of extra rule files (*.yaml); a rule with a built-in id replaces it "
                        "(repeatable).")(command)


@rules_app.command("list", epilog=example("ceph-doctor rules list --rules my_rules/"))
@rules_option
def list_rules(rules_dirs: Iterable[Path]) -> None:
    """Show every rule: id, severity, title and the file it comes from."""
    rules = every_rule(rules_dirs)
    table = Table(title=f"{len(rules)} diagnosis rules", title_justify="left")
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("title", ratio=3)
    table.add_column("source", ratio=2, overflow="fold")
    for rule in rules:
        severity = f"[{SEVERITY_STYLES.get(rule.severity, '')}]{rule.severity}[/]"
        table.add_row(rule.id, severity, rule.title, _source(rule))
    Console().print(table)


@rules_app.command("explain", epilog=example("ceph-doctor rules explain overfitting"))
@click.argument("rule_id", metavar="ID")
@rules_option
def explain(rule_id: str, rules_dirs: Iterable[Path]) -> None:
    """Explain one rule: what it means, why it matters, how to fix it, its condition and its config fixes.

    ID: a rule id, as `ceph-doctor rules list` shows it.
    """
    rules = {rule.id: rule for rule in every_rule(rules_dirs)}
    if rule_id not in rules:
        close = difflib.get_close_matches(rule_id, list(rules), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UserInputError(f"unknown rule id {rule_id!r}; {hint}valid ids: {', '.join(rules) or '(none loaded)'}")
    from rich.markdown import Markdown

    Console().print(Markdown(explanation(rules[rule_id])))


def every_rule(rules_dirs: Iterable[Path]) -> list[Rule]:
    """The rules judged on runs (with the user's), then those judged on an ablation's parts."""
    from ceph_doctor.engine.rules import ABLATION_PACK, load_rules

    return [*load_rules(list(rules_dirs)), *load_rules(pack=ABLATION_PACK)]


def explanation(rule: Rule) -> str:
    """The rule's docs and machinery as one markdown document."""
    conditions = rule.fix_conditions or (None,) * len(rule.fixes)
    fixes = [
        f"- `{fix.key}` {OP_SYMBOLS.get(fix.op, fix.op)} `{_value(fix.value)}` — {fix.reason}"
        + (f" (only when `{condition.source.strip()}`)" if condition is not None else "")
        for fix, condition in zip(rule.fixes, conditions)
    ] or ["- (no config change: see the docs above)"]
    needs = ", ".join(f"`{name}`" for name in rule.required_signals) or "(none)"
    evidence = ", ".join(f"`{name}`" for name in rule.evidence) or "(none)"
    return "\n".join(
        [
            f"# {rule.id} ({rule.severity})",
            f"**{rule.title}**",
            "## What",
            rule.docs.what,
            "## Why it matters",
            rule.docs.why,
            "## How to fix it",
            rule.docs.fix,
            "## Condition",
            "```",
            rule.when.source.strip(),
            "```",
            f"Needs signals: {needs}. Quotes as evidence: {evidence}.",
            "## Config changes it proposes",
            *fixes,
            "",
            f"Source: `{_source(rule)}`",
        ]
    )


def _value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _source(rule: Rule) -> str:
    from ceph_doctor.engine.rules import ABLATION_PACK

    if rule.builtin:
        path = Path(rule.source)
        return f"built-in: {path.parent.name + '/' if path.parent.name == ABLATION_PACK else ''}{path.name}"
    return f"{rule.source} (replaces built-in)" if rule.overrides else rule.source
