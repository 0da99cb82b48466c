"""Conformance testing of other activity systems against the kit's reference model.

An implementation under test (IUT) speaks the JSON Lines protocol of
``docs/iut-protocol.md`` (``protocol.py`` enforces it); ``ReferenceSystem`` is the oracle
that speaks it in-process; ``cases.CASES`` is the scripted catalogue; ``stateful`` runs
Hypothesis command sequences; ``run_suite`` ties it together and ``report`` renders it.

Names are loaded on first use (PEP 562): the pytest plugin lives in this package and is
imported by every pytest run of a project with activitykit installed, so importing the
package itself must not pull in pydantic, the model or Hypothesis.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_WHERE = {
    "adapters": (
        "IUT",
        "IUTFailure",
        "IUTStartError",
        "PythonIUT",
        "SubprocessIUT",
        "load_python_iut",
    ),
    "cases": ("CASES", "Case", "case_names", "get_case"),
    "protocol": ("COMMANDS", "PROTOCOL", "RELEASE_MODES", "ReplyShapeError", "validate_reply"),
    "reference": ("ReferenceSystem", "serve_stdio"),
    "runner": ("CaseResult", "Deviation", "Session"),
    "suite": ("SuiteReport", "TraceVerdict", "run_replay", "run_suite"),
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
__all__ = sorted(name for names in _WHERE.values() for name in names)
