"""Packages that import their names on first use (activitykit._lazy): every name resolves."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

LAZY = [
    "activitykit.check",
    "activitykit.conformance",
    "activitykit.experiments",
    "activitykit.reports",
    "activitykit.trace",
]


@pytest.mark.parametrize("name", LAZY)
def test_every_exported_name_resolves_and_is_listed(name: str) -> None:
    package = importlib.import_module(name)
    for export in package.__all__:
        value = getattr(package, export)
        assert vars(package)[export] is value  # kept in the namespace after the first lookup
    assert set(package.__all__) <= set(dir(package))
    with pytest.raises(AttributeError, match=f"module '{name}' has no attribute 'nope'"):
        package.nope  # noqa: B018


def test_reading_key_figures_does_not_load_the_graph_and_html_code() -> None:
    # simulation workers (sweeps) import reports.metrics; networkx is for report graphs.
    # (The conformance and experiments packages have their own such tests.)
    code = "import sys, activitykit.reports.metrics; print('networkx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_checking_a_trace_file_does_not_load_parquet_or_the_online_drivers() -> None:
    # start-up of `activitykit check` on a JSON Lines file: Parquet (25 ms with pyarrow's
    # file systems) and the online checker and its process (20 ms) on first use only
    code = (
        "import sys, activitykit.cli.check, activitykit.check, activitykit.trace.readers; "
        "print(sorted(m for m in ('pyarrow.parquet', 'activitykit.check.online', "
        "'activitykit.check.process') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_checking_a_trace_file_does_not_load_pandas() -> None:
    # `activitykit check` reads with pyarrow and judges with numpy; pandas (trace.frame) cost
    # about half a second of its start-up before the trace package exported lazily.
    code = (
        "import sys, activitykit.cli.check, activitykit.check, activitykit.trace.readers; "
        "print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
