"""Suite-wide policy: on CI, a test that needs a real component may not skip.

Tests marked ``live``, ``amqp`` or ``browser`` skip with their reason on a developer's machine
that lacks the component. CI installs every component (``.ci/run``), so a skip there means the
install or the component is broken: it is reported as a failure carrying the skip's reason,
instead of a green run that never drove the real thing.

``client_src`` is the Landscape Client source tree for the ``live`` tests: from
``$ACTIVITYKIT_CLIENT_SRC``, else the test machine's fallback location
(``find_client_source``); without one, or without its Debian dependencies, the test skips
and says why.

``start_method`` runs a test once with the kit's helper processes (checker process, report
worker) forked and once spawned as fresh interpreters: which one a process gets depends on
its threads at that moment (``activitykit._fork``), so a test pins it instead.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from activitykit.live.clients import find_client_source

REAL_COMPONENT_MARKERS = ("live", "amqp", "browser")
REPO = Path(__file__).resolve().parents[1]
#: What the client imports from Debian's packages (run by the system interpreter).
CLIENT_DEPS = "import twisted, configobj, pycurl, netifaces, apt, yaml, dbus"


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


@pytest.fixture(scope="session")
def client_src() -> Path:
    src = find_client_source(None, REPO)
    if src is None:
        pytest.skip("no Landscape Client source tree found: set ACTIVITYKIT_CLIENT_SRC to one")
    probe = subprocess.run(
        ["/usr/bin/python3", "-c", CLIENT_DEPS], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"the client's Debian dependencies are missing: {probe.stderr.strip()[-200:]}")
    return src


@pytest.fixture(params=["forked", "spawned"])
def start_method(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    from activitykit import _fork

    forked = request.param == "forked"
    monkeypatch.setattr(_fork, "can_fork", lambda: forked)
    return str(request.param)
