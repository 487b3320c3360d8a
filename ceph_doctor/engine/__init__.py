"""The diagnosis engine: rule files judge signals and propose config fixes.

    rules = load_rules(extra_dirs)                      # rules.py: the YAML rule files, schema-checked
    diagnoses, not_checked = diagnose(signals, rules)   # evaluate.py: conditions, messages, evidence
    config, plan = repaired_config(run.config, diagnoses)   # plan.py: one change per key, applied
    emit_config("patched.yaml", config, plan.lines())                # fixes.py

The condition language of `when:` lives in expr.py. The overfit check's verdicts are stage rules
(`rules/sanity/`, read by stage_files.py and judged in order by stage_rules.py).
"""

from ceph_doctor.engine.diagnosis import SEVERITIES, Diagnosis, Fix, NotChecked, RunReport
from ceph_doctor.engine.evaluate import diagnose
from ceph_doctor.engine.expr import ExpressionError, MissingSignal
from ceph_doctor.engine.fixes import emit_config, planned_change
from ceph_doctor.engine.plan import TreatmentPlan, apply_fixes, plan_of, repaired_config, treatment_plan
from ceph_doctor.engine.rules import Rule, RuleError, load_rules

__all__ = [
    "SEVERITIES",
    "Diagnosis",
    "ExpressionError",
    "Fix",
    "MissingSignal",
    "NotChecked",
    "Rule",
    "RuleError",
    "RunReport",
    "TreatmentPlan",
    "apply_fixes",
    "diagnose",
    "emit_config",
    "plan_of",
    "planned_change",
    "repaired_config",
    "treatment_plan",
    "load_rules",
]
