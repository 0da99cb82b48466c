"""pytest plugin: ``pytest --activitykit-iut "COMMAND"`` runs the catalogue as tests.

One test per catalogue case, one for the Hypothesis stateful run and one for the check of
the session trace, all under the node ``activitykit-conform``. Installed through the
``pytest11`` entry point, so it loads in every pytest run of any project that has
activitykit installed: without ``--activitykit-iut``/``--activitykit-iut-python`` it only
adds its options, collects nothing, and imports nothing beyond pytest.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["ConformanceItem"]


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("activitykit", "activitykit conformance suite")
    g.addoption("--activitykit-iut", metavar="COMMAND", help="JSON Lines IUT command to test")
    g.addoption("--activitykit-iut-python", metavar="MODULE:CLASS", help="in-process IUT to test")
    g.addoption(
        "--activitykit-profile",
        choices=("result-wins", "cancel-sticky"),
        default="result-wins",
        help="profile of the reference model (default result-wins)",
    )
    g.addoption("--activitykit-examples", type=int, default=100, help="stateful sequences")
    g.addoption("--activitykit-shrink-seconds", type=float, default=30.0, help="shrink time budget")
    g.addoption("--activitykit-seed", type=int, default=0, help="Hypothesis seed")
    g.addoption(
        "--activitykit-case",
        action="append",
        metavar="NAME",
        help="only this catalogue case (repeatable; a trailing / selects a family); "
        "skips the stateful run",
    )
    g.addoption("--activitykit-timeout", type=float, default=5.0, help="seconds per request")


def _active(config: pytest.Config) -> bool:
    return bool(
        config.getoption("--activitykit-iut", None)
        or config.getoption("--activitykit-iut-python", None)
    )


class _State:
    """The one IUT session shared by every conformance test of this pytest process."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.session: Any = None
        self.start_error: str | None = None

    def get(self) -> Any:
        if self.session is None and self.start_error is None:
            from . import SubprocessIUT, load_python_iut
            from .adapters import IUTStartError
            from .runner import Session

            opt = self.config.getoption
            if opt("--activitykit-iut"):
                iut = SubprocessIUT(opt("--activitykit-iut"), timeout=opt("--activitykit-timeout"))
            else:
                iut = load_python_iut(opt("--activitykit-iut-python"))
            self.session = Session(iut, opt("--activitykit-profile"))
            try:
                self.session.ensure_started()
            except IUTStartError as exc:
                self.start_error = f"the IUT could not be started: {exc}"
        if self.start_error is not None:
            pytest.fail(self.start_error, pytrace=False)
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


class ConformanceItem(pytest.Item):
    """One catalogue case, the stateful run (``case=None``), or the trace check."""

    def __init__(self, *, what: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.what = what

    def runtest(self) -> None:
        from .report import evidence

        state: _State = self.config.stash[_STASH]
        session = state.get()
        opt = self.config.getoption
        if self.what == "stateful":
            from .stateful import run_stateful, write_replay

            if opt("--activitykit-examples") <= 0:
                pytest.skip("--activitykit-examples 0: no stateful run")
            outcome = run_stateful(
                session,
                examples=opt("--activitykit-examples"),
                seed=opt("--activitykit-seed"),
                shrink_seconds=opt("--activitykit-shrink-seconds"),
            )
            if not outcome.result.passed:
                text = "\n".join(evidence(outcome.result))
                replay = write_replay(outcome.counterexample, session.profile.value)
                pytest.fail(f"{text}\nreplay file content:\n{replay}", pytrace=False)
        elif self.what == "trace-check":
            from .suite import check_trace

            verdict = check_trace(session.trace.records, session.profile)
            if verdict.ran and not verdict.ok:
                pytest.fail("\n".join(verdict.violations), pytrace=False)
        else:
            from .cases import CASES

            result = session.run_case(CASES[self.what])
            if not result.passed:
                pytest.fail("\n".join(evidence(result)), pytrace=False)

    def reportinfo(self) -> tuple[str, int, str]:
        return ("activitykit-conform", 0, f"activitykit conform: {self.what}")


class _Conformance(pytest.Collector):
    def collect(self) -> list[pytest.Item]:
        from .cases import CASES

        wanted = self.config.getoption("--activitykit-case") or []
        if wanted:
            unknown = [
                w
                for w in wanted
                if not any(n == w or (w.endswith("/") and n.startswith(w)) for n in CASES)
            ]
            if unknown:
                raise pytest.UsageError(
                    f"--activitykit-case {unknown}: no such case (see activitykit conform --list)"
                )
            names = [
                n
                for n in CASES
                if any(n == w or (w.endswith("/") and n.startswith(w)) for w in wanted)
            ]
        else:
            names = [*CASES, "stateful"]
        names.append("trace-check")
        return [ConformanceItem.from_parent(self, name=n, what=n) for n in names]


_STASH = pytest.StashKey[_State]()


def pytest_configure(config: pytest.Config) -> None:
    if _active(config):
        config.stash[_STASH] = _State(config)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not _active(config):
        return
    collector = _Conformance.from_parent(session, name="activitykit-conform")
    items.extend(collector.collect())


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STASH, None)
    if state is not None:
        state.close()
