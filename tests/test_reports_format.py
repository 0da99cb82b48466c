"""Numbers in report.html tables: no false precision (the old tables showed six digits)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from activitykit.reports._page import fmt as _fmt


@pytest.mark.parametrize(
    ("x", "shown"),
    [
        (1234.5678, "1,235"),  # was 1234.57
        (12.3456, "12.3"),  # was 12.3456
        (0.0123456, "0.0123"),  # was 0.0123456
        (7.0, "7"),
        (-250.25, "-250"),
        (0.0, "0"),
        (math.nan, ""),
        (math.inf, "inf"),
    ],
)
def test_table_numbers_have_sensible_precision(x: float, shown: str) -> None:
    assert _fmt(x) == shown


def test_html_tables_use_it() -> None:
    html = pd.DataFrame({"p90": [1234.5678]}).to_html(float_format=_fmt)
    assert "1,235" in html and "1234.57" not in html
