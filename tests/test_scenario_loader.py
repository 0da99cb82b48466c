"""Scenario loading: every kind of bad file is refused with file, line, field and the rule."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from activitykit.errors import InputError
from activitykit.scenario import (
    Scenario,
    dump_effective,
    load_scenario,
    loads_scenario,
    problems,
    scenario_from_data,
)


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def refusal(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> str:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_scenario(path, overrides)
    return str(info.value)


GOOD = """
name: good
fleet:
  groups:
    - name: web
      computers: 10
    - name: db
      computers: 5
workload:
  arrivals:
    - {name: scripts, type: ExecuteScriptRequest, rate: 0.1, group: web}
"""


def test_good_file_loads_with_defaults(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, GOOD))
    assert s.name == "good"
    assert [g.name for g in s.fleet.groups] == ["web", "db"]
    assert s.fleet.groups[0].ping_interval == Scenario().fleet.groups[0].ping_interval
    assert s.workload.arrivals[0].rate == 0.1


def test_empty_mapping_is_the_default_scenario_but_an_empty_file_is_refused(
    tmp_path: Path,
) -> None:
    assert load_scenario(write(tmp_path, "{}\n")) == Scenario()
    for text in ("", "# only a comment\n"):
        with pytest.raises(InputError, match=r"has no settings .* write at least a name"):
            load_scenario(write(tmp_path, text))


def test_out_of_range_names_file_line_field_and_value(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        name: x
        fleet:
          groups:
            - name: a
              ping_interval: -5
        """,
    )
    assert msg == (
        f"{tmp_path / 's.yaml'}:5: fleet.groups[0].ping_interval: "
        "Input should be greater than or equal to 1 (got -5)"
    )


def test_unknown_key_lists_allowed_keys(tmp_path: Path) -> None:
    msg = refusal(tmp_path, "fleet:\n  groups:\n    - name: a\n      pingInterval: 10\n")
    assert "s.yaml:4: fleet.groups[0].pingInterval: unknown key 'pingInterval'" in msg
    assert "allowed keys: name, computers, exchange_interval" in msg
    assert "ping_interval" in msg


def test_unknown_top_level_key(tmp_path: Path) -> None:
    msg = refusal(tmp_path, "name: x\nduraton: 60\n")
    assert "s.yaml:2: duraton: unknown key 'duraton' at the top level" in msg
    assert "duration" in msg


def test_wrong_types_are_not_coerced(tmp_path: Path) -> None:
    msg = refusal(tmp_path, 'fleet:\n  groups:\n    - computers: "100"\n')
    assert "s.yaml:3: fleet.groups[0].computers: Input should be a valid integer (got '100')" in msg
    msg = refusal(tmp_path, "duration: true\n")
    assert "s.yaml:1: duration: Input should be a valid number (got true)" in msg
    msg = refusal(tmp_path, "fleet: [1, 2]\n")
    assert "s.yaml:1: fleet:" in msg


def test_exponent_without_dot_gets_a_hint(tmp_path: Path) -> None:
    msg = refusal(tmp_path, "fleet:\n  groups:\n    - computers: 1e6\n")
    assert "YAML read it as text" in msg


def test_distribution_errors_point_inside_the_mapping(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        fleet:
          groups:
            - default_handler:
                duration: {dist: exponential, mean: -1}
        """,
    )
    assert "s.yaml:4: fleet.groups[0].default_handler.duration.mean: " in msg
    assert "greater than 0 (got -1)" in msg
    msg = refusal(tmp_path, "fleet:\n  groups:\n    - default_handler: {duration: {dist: gamma}}\n")
    assert "default_handler.duration" in msg and "'fixed'" in msg and "'exponential'" in msg
    msg = refusal(tmp_path, "fleet:\n  groups:\n    - default_handler: {duration: -3}\n")
    assert "default_handler.duration.value: Input should be greater than or equal to 0" in msg


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    msg = refusal(tmp_path, "name: x\nfleet:\n  groups: [\n    - a\n")
    assert "s.yaml:" in msg and "YAML error" in msg and "column" in msg


def test_python_tags_cannot_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    msg = refusal(
        tmp_path,
        f"name: !!python/object/apply:os.system ['touch {marker}']\n",
    )
    assert "s.yaml:1: the YAML tag !!python/object/apply:os.system" in msg
    assert "is not allowed" in msg
    assert not marker.exists()


def test_alias_bombs_are_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    msg = refusal(tmp_path, "\n".join(lines) + "\n")
    assert "expands to more than 100,000 values" in msg


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    msg = refusal(tmp_path, "name: a\nduration: 60\nname: b\n")
    assert "s.yaml:3: duplicate key 'name' (first at line 1)" in msg


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert "not a list" in refusal(tmp_path, "- a\n- b\n")


def test_unknown_activity_type_suggests_closest(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        workload:
          arrivals:
            - {name: s, type: ExecuteScriptReqest, rate: 1}
        """,
    )
    assert "s.yaml:3: workload.arrivals[0].type: unknown activity type" in msg
    assert "did you mean ExecuteScriptRequest" in msg


def test_handler_kind_mismatch(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        fleet:
          groups:
            - handlers:
                GenerateUsgReportActivity: {duration: 5}
        server:
          handlers:
            ExecuteScriptRequest: {duration: 5}
        """,
    )
    assert "s.yaml:4: fleet.groups[0].handlers.GenerateUsgReportActivity: " in msg
    assert "is a server activity type" in msg
    assert "s.yaml:7: server.handlers.ExecuteScriptRequest: " in msg
    assert "is a client activity type" in msg


def test_unknown_and_duplicate_groups(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        fleet:
          groups:
            - {name: web, computers: 3}
            - {name: web, computers: 4}
        workload:
          batches:
            - {name: b, type: ExecuteScriptRequest, count: 2, group: wbe}
        """,
    )
    assert "s.yaml:4: fleet.groups[1].name: duplicate group name 'web'" in msg
    assert "s.yaml:7: workload.batches[0].group: unknown group 'wbe'; did you mean 'web'?" in msg


def test_server_type_must_not_target_a_group(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        workload:
          arrivals:
            - {name: r, type: GenerateUsgReportActivity, rate: 1, group: default}
          bulks:
            - {name: k, type: SyncPocketRequest}
        """,
    )
    assert "workload.arrivals[0].group: a server activity runs on a job-handler" in msg
    assert "workload.bulks[0].type: SyncPocketRequest is a server activity type" in msg


def test_duplicate_workload_names(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        workload:
          arrivals:
            - {name: x, type: ExecuteScriptRequest, rate: 1}
          batches:
            - {name: x, type: ExecuteScriptRequest, count: 1}
        """,
    )
    assert "s.yaml:5: workload.batches[0].name: duplicate workload name 'x'" in msg


def test_scheduled_needs_deliver_after_and_waiting_needs_something(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        workload:
          arrivals:
            - {name: a, type: ExecuteScriptRequest, rate: 1, state: Scheduled}
            - {name: b, type: ExecuteScriptRequest, rate: 1, state: Waiting}
            - {name: c, type: ExecuteScriptRequest, rate: 1, deliver_after: 60}
          bulks:
            - {name: k, type: ExecuteScriptRequest, state: Waiting}
            - {name: m, type: ExecuteScriptRequest, threshold: 0.5}
        """,
    )
    assert "s.yaml:3: workload.arrivals[0].state: state Scheduled needs deliver_after" in msg
    assert "s.yaml:4: workload.arrivals[1].state: state Waiting needs depends_on" in msg
    assert "s.yaml:5: workload.arrivals[2].deliver_after: deliver_after only applies" in msg
    assert "s.yaml:7: workload.bulks[0].state: state Waiting needs depends_on or progress_of" in msg
    assert "s.yaml:8: workload.bulks[1].threshold: threshold needs progress_of" in msg


def test_references_to_unknown_bulks_and_steps(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        workload:
          arrivals:
            - {name: scripts, type: ExecuteScriptRequest, rate: 1}
          bulks:
            - {name: up, type: UpgradeAllPackagesRequest}
            - {name: rb, type: RestartRequest, state: Waiting, depends_on: [upp]}
            - {name: rc, type: RestartRequest, state: Waiting, depends_on: [scripts]}
          chains:
            - name: c
              steps:
                - {name: one, type: ExecuteScriptRequest}
                - {name: two, type: ExecuteScriptRequest, state: Waiting, depends_on: [three]}
                - {name: pr, type: ExecuteScriptRequest, state: Waiting, progress_of: one,
                   threshold: 0.5}
        """,
    )
    assert (
        "s.yaml:6: workload.bulks[1].depends_on[0]: unknown bulk 'upp'; did you mean 'up'?" in msg
    )
    assert "workload.bulks[2].depends_on[0]: 'scripts' is arrivals[0], not a bulk" in msg
    assert "s.yaml:12: workload.chains[0].steps[1].depends_on[0]: unknown step 'three'" in msg
    assert "workload.chains[0].steps[2].progress_of: step 'one' (ExecuteScriptRequest)" in msg


def test_dependency_cycles_are_named(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        workload:
          chains:
            - name: c
              steps:
                - {name: a, type: ExecuteScriptRequest, state: Waiting, depends_on: [b]}
                - {name: b, type: ExecuteScriptRequest, state: Waiting, depends_on: [a]}
          bulks:
            - {name: x, type: RestartRequest, state: Waiting, depends_on: [x]}
        """,
    )
    assert "dependency cycle: a -> b -> a" in msg
    assert "workload.bulks[0].depends_on: dependency cycle: x -> x" in msg


def test_forward_references_are_refused(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        workload:
          bulks:
            - {name: a, type: RestartRequest, state: Waiting, depends_on: [b]}
            - {name: b, type: UpgradeAllPackagesRequest}
            - {name: c, type: RestartRequest, state: Waiting, depends_on: [d]}
            - {name: d, type: UpgradeAllPackagesRequest, at: 100}
        """,
    )
    assert "workload.bulks[0].depends_on[0]: bulk 'b' is listed after this one" in msg


def test_bulk_count_larger_than_group(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        fleet:
          groups: [{name: g, computers: 5}]
        workload:
          bulks: [{name: b, type: RestartRequest, group: g, count: 6}]
        """,
    )
    assert "workload.bulks[0].count: count (6) exceeds group 'g' (5 computers)" in msg


def test_model_level_rules_still_apply(tmp_path: Path) -> None:
    msg = refusal(tmp_path, "duration: 60\nwarmup: 120\n")
    assert "warmup (120.0) must be shorter than duration (60.0)" in msg
    msg = refusal(
        tmp_path,
        "fleet:\n  groups:\n    - default_handler:\n"
        "        duration: {dist: uniform, low: 5, high: 1}\n",
    )
    assert "s.yaml:4:" in msg and "high (1.0) must be >= low (5.0)" in msg


def test_many_problems_are_all_listed(tmp_path: Path) -> None:
    msg = refusal(tmp_path, "duration: -1\nseed: -2\nwarmup: -3\n")
    assert msg.startswith("3 problems:")
    assert ":1: duration" in msg and ":2: seed" in msg and ":3: warmup" in msg


# --- --set overrides --------------------------------------------------------------------
def test_set_overrides_values_and_list_items(tmp_path: Path) -> None:
    s = load_scenario(
        write(tmp_path, GOOD),
        ["duration=600", "fleet.groups.1.computers=50", "workload.arrivals.0.rate=0.5"],
    )
    assert s.duration == 600.0
    assert s.fleet.groups[1].computers == 50
    assert s.workload.arrivals[0].rate == 0.5


def test_set_fills_defaults_for_sections_absent_from_the_file(tmp_path: Path) -> None:
    s = load_scenario(
        write(tmp_path, "name: x\n"),
        ["fleet.groups.0.computers=500", "faults.job_handler_crash.mtbf=3600"],
    )
    assert s.fleet.groups[0].computers == 500
    assert s.fleet.groups[0].name == Scenario().fleet.groups[0].name
    assert s.faults.job_handler_crash.mtbf == 3600.0


def test_set_values_are_type_checked_like_the_file(tmp_path: Path) -> None:
    msg = refusal(tmp_path, GOOD, ("fleet.groups.0.computers=abc",))
    assert msg == (
        "--set fleet.groups.0.computers=abc: fleet.groups[0].computers: "
        "Input should be a valid integer (got 'abc')"
    )
    msg = refusal(tmp_path, GOOD, ("duration=0",))
    assert msg.startswith("--set duration=0: duration: Input should be greater than 0")
    msg = refusal(tmp_path, GOOD, ("fleet.groups.0.pingInterval=3",))
    assert "--set fleet.groups.0.pingInterval=3: " in msg and "unknown key 'pingInterval'" in msg
    msg = refusal(tmp_path, GOOD, ("workload.arrivals.0.group=nope",))
    assert "--set workload.arrivals.0.group=nope: workload.arrivals[0].group: unknown group" in msg


def test_set_syntax_and_index_errors(tmp_path: Path) -> None:
    assert "expected dotted.key=value" in refusal(tmp_path, GOOD, ("duration",))
    assert "expected dotted.key=value" in refusal(tmp_path, GOOD, ("a..b=1",))
    msg = refusal(tmp_path, GOOD, ("fleet.groups.5.computers=1",))
    assert "fleet.groups is a list of 2 entries; use an index 0..1 (got 5)" in msg
    msg = refusal(tmp_path, GOOD, ("name.x=1",))
    assert "--set name.x=1: name is a value ('good'), not a section" in msg


def test_file_errors_come_before_overrides(tmp_path: Path) -> None:
    msg = refusal(tmp_path, "duration: -1\n", ("duration=5",))
    assert "s.yaml:1: duration" in msg


# --- the effective scenario ----------------------------------------------------------------
def test_effective_dump_round_trips(tmp_path: Path) -> None:
    for path in sorted(Path(__file__).parent.parent.glob("scenarios/*.yaml")):
        s = load_scenario(path)
        text = dump_effective(s)
        assert loads_scenario(text, source="effective") == s, path.name
        assert "max_messages_per_exchange: 100" in text  # defaults are written out


def test_scenarios_built_in_python_are_cross_checked() -> None:
    with pytest.raises(ValueError, match="unknown group 'nope'"):
        Scenario.model_validate(
            {
                "workload": {
                    "batches": [
                        {"name": "b", "type": "RestartRequest", "group": "nope", "count": 1}
                    ]
                }
            }
        )
    ok = Scenario.model_validate(
        {"workload": {"batches": [{"name": "b", "type": "RestartRequest", "count": 1}]}}
    )
    assert problems(ok) == []


def test_scenario_from_data_names_its_source() -> None:
    with pytest.raises(InputError, match=r"^notebook: duration: Input should be greater than 0"):
        scenario_from_data({"duration": 0}, source="notebook")


def test_backoff_order_and_server_only_chain_with_group(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        faults:
          server_busy: {backoff_initial: 600, backoff_max: 300}
        fleet:
          groups: [{registration_spread: 60, start_phase_spread: 30}]
        workload:
          chains:
            - name: c
              group: default
              steps: [{name: s, type: SyncPocketRequest}]
        """,
    )
    assert "s.yaml:2: faults.server_busy.backoff_max: backoff_max (300.0) must be >= " in msg
    assert "s.yaml:8: workload.chains[0].group: every step is a server activity" in msg
    assert "s.yaml:4: fleet.groups[0].start_phase_spread: start_phase_spread only applies" in msg


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("seed: 1\nname: caf\xe9\n".encode("latin-1"))
    # named by line and column, as any other error in a scenario file
    with pytest.raises(
        InputError,
        match=r"latin1.yaml:2: not UTF-8 text \(byte 0xe9 at column 10: invalid continuation"
        r".*\); is this a scenario file\?",
    ):
        load_scenario(path)


def test_urgent_interval_below_10_s_is_refused_everywhere(tmp_path: Path) -> None:
    msg = refusal(
        tmp_path,
        """
        fleet:
          groups: [{name: a, urgent_exchange_interval: 9.5}]
        server:
          set_intervals:
            - {at: 100, urgent_exchange_interval: 5}
            - {at: 300}
        """,
    )
    assert "s.yaml:2: fleet.groups[0].urgent_exchange_interval: urgent_exchange_interval (9.5 s) " \
        "must be at least 10 s" in msg  # fmt: skip
    assert "s.yaml:5: server.set_intervals[0].urgent_exchange_interval: " in msg
    assert "announces each exchange 10 s ahead" in msg
    assert "s.yaml:6: server.set_intervals[1]: set one of exchange_interval" in msg
    msg = refusal(tmp_path, "server: {set_intervals: [{at: 200, group: b, ping_interval: 10}]}")
    assert "server.set_intervals[0].group: unknown group 'b'" in msg


def test_client_section_defaults_follow_the_real_client() -> None:
    c = Scenario().fleet.groups[0].client
    assert c.version == "current" and c.duplicate_ping_loop and c.shutdown_delay == 120.0
    assert c.message_handling.value == 0.017 and c.background.interval is None
    assert Scenario().fleet.groups[0].urgent_exchange_interval == 60.0


def test_unreadable_document_without_a_bad_value_keeps_the_cause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The last resort when no single value fails on its own: the message still says why.
    from activitykit.scenario import _yaml

    def fail(self: object, node: object) -> object:
        raise ValueError("a constructor gave up")

    monkeypatch.setattr(_yaml._Loader, "construct_document", fail)
    with pytest.raises(
        InputError,
        match=r"^s.yaml: YAML error: a value cannot be read \(ValueError: a constructor gave up\)$",
    ):
        _yaml.load_yaml("seed: 1\n", "s.yaml")
