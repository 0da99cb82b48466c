"""The trace conformance checker: one rule set (T1-T3, C1-C8, STUCK), two drivers.

- ``check(source, ...)``: the batch driver for files, DataFrames and record lists; columnar
  and fast (``activitykit.check.batch``).
- ``Checker(...).feed(record)``: the online driver for a simulator, record by record
  (``activitykit.check.online``); ``CheckerProcess`` runs it in a second process
  (``activitykit.check.process``).

Both return a ``CheckReport``; the rules and their messages live in ``activitykit.check.rules``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .report import CheckReport, Violation
from .rules import RULE_IDS, RULES, Rule

if TYPE_CHECKING:
    from .batch import check, check_table, load_table
    from .online import Checker
    from .process import CheckerProcess, CheckerProcessError

#: Imported on first use: a check of a file needs neither online driver (20 ms of
#: start-up), and the online drivers need no batch driver: numpy and pyarrow are half a
#: second of a checker process's start, taken from the simulation it runs beside.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "batch": ("check", "check_table", "load_table"),
        "online": ("Checker",),
        "process": ("CheckerProcess", "CheckerProcessError"),
    },
)

__all__ = [
    "RULES",
    "RULE_IDS",
    "CheckReport",
    "Checker",
    "CheckerProcess",
    "CheckerProcessError",
    "Rule",
    "Violation",
    "check",
    "check_table",
    "load_table",
]
