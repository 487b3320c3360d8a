"""The exit codes every command shares (httpie's ExitStatus): 0 fine, 1 diagnosed, 2 bad input."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    DIAGNOSED = 1  # diagnoses at or above --fail-on, or a failed sanity check
    BAD_INPUT = 2  # bad input or usage: one clear line, no traceback
