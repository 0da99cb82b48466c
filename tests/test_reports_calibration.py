"""``reports.calibration`` and ``activitykit calibrate --from-live``, without a client."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from activitykit.cli import main
from activitykit.reports import calibration as cal

DATA = Path(__file__).parent / "data" / "calibration"


def _side(label: str, to_start, run, exchanges, pings, *, runs: int = 1) -> cal.Side:
    return cal.Side(
        label=label,
        latencies={"to_start": np.asarray(to_start, float), "run": np.asarray(run, float)},
        counts={"exchanges": np.asarray(exchanges, float), "pings": np.asarray(pings, float)},
        computers=3,
        window=100.0,
        runs=runs,
        source=label,
        per_computer={},
    )


def test_same_distributions_agree_and_shifted_ones_do_not() -> None:
    rng = np.random.default_rng(1)
    live = _side("a", rng.uniform(0, 15, 300), 10 + rng.uniform(0, 3, 300), [20, 21, 19], [48] * 3)
    # pings: the real mean must lie in the interval of the simulator's runs (SPREAD_COUNTS)
    same = _side("b", rng.uniform(0, 15, 900), 10 + rng.uniform(0, 3, 900), [20.2], [47, 49, 50])
    c = cal.compare(live, same)
    assert c["all_agree"], c["agree"]
    assert c["latency"]["to_start"]["ks"]["pvalue"] > cal.KS_P_MIN
    assert c["counts"]["exchanges"]["relative_difference"] == pytest.approx(0.01)
    shifted = _side("c", rng.uniform(0, 15, 900), 11 + rng.uniform(0, 3, 900), [20.0], [59, 60, 61])
    c = cal.compare(live, shifted)
    assert c["agree"] == {
        "latency.to_start": True,
        "latency.run": False,
        "counts.exchanges": True,
        "counts.pings": False,
    }
    assert not c["all_agree"]
    text = cal.comparison_text(c)
    assert "DIFFER" in text and "they differ" in text
    json.dumps(c, allow_nan=False)  # machine-readable: no NaN, numbers only


def test_sides_at_different_settings_are_refused() -> None:
    a = _side("a", [1.0], [1.0], [1.0], [1.0])
    b = cal.Side(**{**a.__dict__, "computers": 4})
    with pytest.raises(cal.InputError, match="do not share settings"):
        cal.compare(a, b)


def test_the_recording_measures_the_real_clients_timings() -> None:
    m = cal.real_client_measurements(DATA)
    assert m["intervals_s"] == {"exchange": 20.0, "urgent_exchange": 10.0, "ping": 5.0}
    assert m["duplicate_pings"]["count"] == 211  # as the run's own findings say
    assert 0 < m["exchange_duration_s"]["p50"] < 1.0
    assert m["deliver_to_result_s"]["n"] == 131


def test_the_handler_overhead_default_is_the_recorded_clients() -> None:
    from activitykit.scenario.schema import ClientSpec

    m = cal.real_client_measurements(DATA)["handler_overhead_s"]
    assert m["n"] >= 50  # one per result that asked for its urgent exchange
    d = ClientSpec().handler_overhead
    assert d.dist == "lognormal"
    assert d.mean == pytest.approx(m["mean"], rel=0.05)
    # the median of the lognormal: its mean * exp(-sigma^2 / 2)
    assert d.mean * np.exp(-(d.sigma**2) / 2) == pytest.approx(m["p50"], rel=0.05)


def test_calibrate_from_live_writes_the_comparison(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cal"
    code = main(
        ["calibrate", str(DATA / "scenario.effective.yaml"),
         "--from-live", str(DATA), "--seeds", "1", "--out", str(out)]
    )  # fmt: skip
    comparison = json.loads((out / "calibration.json").read_text())
    assert code == (0 if comparison["all_agree"] else 1)
    assert comparison["computers"] == 6 and comparison["sim"]["runs"] == 1
    assert comparison["latency"]["to_start"]["live"]["n"] == 131
    assert set(comparison["counts"]["exchanges"]["live"]["per_computer"]) == {
        f"c{i}" for i in range(1, 7)
    }
    printed = capsys.readouterr().out
    assert printed.startswith((out / "calibration.txt").read_text())
    assert (out / "calibration.png").read_bytes()[:4] == b"\x89PNG"


def test_calibrate_from_a_directory_that_is_not_a_live_run(tmp_path: Path, capsys) -> None:
    run = tmp_path / "notlive"
    run.mkdir()
    for name in ("trace.jsonl.gz", "scenario.effective.yaml"):
        shutil.copy(DATA / name, run / name)
    code = main(["calibrate", str(DATA / "scenario.effective.yaml"),
                 "--from-live", str(run), "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 2
    assert "not a live run" in capsys.readouterr().err


def test_calibrate_needs_a_client_or_a_recording(capsys) -> None:
    assert main(["calibrate", str(DATA / "scenario.effective.yaml")]) == 2
    assert "--clients N" in capsys.readouterr().err
    assert main(["calibrate", str(DATA / "scenario.effective.yaml"), "--clients", "2"]) == 2
    assert "--client-src or --client-cmd" in capsys.readouterr().err
    assert main(["calibrate", str(DATA / "scenario.effective.yaml"), "--clients", "0",
                 "--client-src", "/x"]) == 2  # fmt: skip
    assert "--clients must be at least 1" in capsys.readouterr().err


def test_calibrate_from_a_run_with_too_few_ping_periods(tmp_path: Path, capsys) -> None:
    """A short or loaded live run leaves nothing to fit: exit 2 naming the run and what to
    change, not the fit's ValueError as a traceback."""
    import gzip

    run = tmp_path / "live"
    shutil.copytree(DATA, run)
    lines = gzip.decompress((run / "protocol.jsonl.gz").read_bytes()).splitlines(True)
    (run / "protocol.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[:3])))
    code = main(["calibrate", str(DATA / "scenario.effective.yaml"),
                 "--from-live", str(run), "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert str(run) in err and "ping period" in err and "Traceback" not in err
