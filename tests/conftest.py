"""Suite-wide policy: on CI, a test that needs a real component may not skip.

Tests marked ``live``, ``amqp`` or ``browser`` skip with their reason on a developer's machine
that lacks the component. CI installs every component (``.ci/run``), so a skip there means the
install or the component is broken: it is reported as a failure carrying the skip's reason,
instead of a green run that never drove the real thing.
"""

from __future__ import annotations

import os

import pytest

REAL_COMPONENT_MARKERS = ("live", "amqp", "browser")


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and _on_ci()):
        return
    marks = [m for m in REAL_COMPONENT_MARKERS if item.get_closest_marker(m) is not None]
    if not marks or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"CI=true and this {'/'.join(marks)} test skipped: {reason} "
        "(.ci/run installs every real component, so CI never skips these)"
    )
