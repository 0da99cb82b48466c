"""The simulated server: the activity store (``activitykit.server``, the same code the
conformance reference runs), its ping service, and the message system the fleet exchanges with.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

from ..scenario.schema import Scenario
from ..server import Activity, ActivityStore
from .kernel import Record, at

__all__ = ["Server"]


class Server:
    """``store`` holds the activities and decides every move; ``ping_sees`` is the ping
    service (it answers from a view of the store ``ping_staleness`` old); ``delivered`` tells
    it what an exchange just delivered (for that stale view)."""

    def __init__(
        self,
        scenario: Scenario,
        env: simpy.Environment,
        emit: Callable[[Record], None],
        on_deliverable: Callable[[int, float], None],
        on_publish: Callable[[Activity, float], None],
    ) -> None:
        self.env = env
        self.store = ActivityStore(
            scenario.model.profile,
            emit=emit,
            at=self._at,
            on_deliverable=on_deliverable,
            on_publish=on_publish,
            on_dependency_failure=scenario.model.on_dependency_failure,
            strict=True,
        )
        self.staleness = scenario.server.ping_staleness
        #: computer -> (time of its last delivering exchange, when the earliest message it
        #: delivered became visible): the stale view still shows that message until then.
        self._lastdel: dict[int, tuple[float, float]] = {}

    def _at(self, t: float, callback: Callable[[float], None]) -> None:
        at(self.env, t, lambda ev: callback(self.env.now))

    def ping_sees(self, c: int, t: float) -> bool:
        """Does a ping of computer ``c`` at ``t`` answer "messages: true"?"""
        seen = t - self.staleness
        if self.store.has_deliverable(t, c, seen):
            return True
        if self.staleness > 0:
            ld = self._lastdel.get(c)
            if ld is not None and ld[0] > seen and ld[1] <= seen:
                return True
        return False

    def delivered(self, c: int, t: float, acts: list[Activity]) -> float | None:
        """An exchange of ``c`` at ``t`` delivered ``acts``; with a stale ping view, returns
        when the earliest of them became visible (a ping may still see it), else None."""
        if self.staleness <= 0:
            return None
        first = min(a.vis for a in acts)
        self._lastdel[c] = (t, first)
        return first
