"""The built-in rule pack: one YAML file per diagnosis (see ceph_doctor/engine/rules.py for the format).

This file makes the folder a regular package, `ceph_doctor.rules` (mapped in pyproject.toml), so that
`importlib.resources` finds the YAML files both in an editable install and in an installed wheel.
"""
