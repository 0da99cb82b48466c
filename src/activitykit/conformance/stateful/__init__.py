"""Hypothesis stateful testing: random command sequences, reference beside IUT, every step.

``machine`` holds the rule-based machine (a weighted menu of single commands and short
episodes of one life cycle), ``run`` drives it under a seed and turns the first deviation
into an outcome, ``shrink`` shrinks that sequence, ``replay`` saves and reads it for
``--replay``, and ``coverage`` counts what the run exercised.
"""

from __future__ import annotations

from .coverage import Coverage
from .replay import REPLAY_HEADER, load_replay, read_replay, write_replay
from .run import StatefulOutcome, run_stateful
from .shrink import minimize, renumber

__all__ = [
    "REPLAY_HEADER",
    "Coverage",
    "StatefulOutcome",
    "load_replay",
    "minimize",
    "read_replay",
    "renumber",
    "run_stateful",
    "write_replay",
]
