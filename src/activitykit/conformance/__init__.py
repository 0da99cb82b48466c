"""Conformance testing of other activity systems against the kit's reference model.

An implementation under test (IUT) speaks the JSON Lines protocol of
``docs/iut-protocol.md`` (``protocol.py`` enforces it); ``ReferenceSystem`` is the oracle
that speaks it in-process; ``cases.CASES`` is the scripted catalogue; ``stateful`` runs
Hypothesis command sequences; ``run_suite`` ties it together and ``report`` renders it.

Importing this package is cheap; Hypothesis and the checker are imported only when used.
"""

from .adapters import IUT, IUTFailure, IUTStartError, PythonIUT, SubprocessIUT, load_python_iut
from .cases import CASES, Case, case_names, get_case
from .protocol import COMMANDS, PROTOCOL, ReplyShapeError, validate_reply
from .reference import ReferenceSystem, serve_stdio
from .runner import CaseResult, Deviation, Session
from .suite import SuiteReport, TraceVerdict, run_replay, run_suite

__all__ = [
    "CASES",
    "COMMANDS",
    "IUT",
    "PROTOCOL",
    "Case",
    "CaseResult",
    "Deviation",
    "IUTFailure",
    "IUTStartError",
    "PythonIUT",
    "ReferenceSystem",
    "ReplyShapeError",
    "Session",
    "SubprocessIUT",
    "SuiteReport",
    "TraceVerdict",
    "case_names",
    "get_case",
    "load_python_iut",
    "run_replay",
    "run_suite",
    "serve_stdio",
    "validate_reply",
]
