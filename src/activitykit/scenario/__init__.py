"""Scenario files: what to simulate, as data a person can read, diff and share.

``schema`` holds every setting and default; ``loader`` reads YAML files (safely, keeping line
numbers for error messages) and applies ``--set`` overrides; ``validate`` checks what single
fields cannot (type names, groups, dependencies).
"""

from .loader import dump_effective, load_scenario, loads_scenario, scenario_from_data
from .schema import Scenario
from .validate import Problem, format_path, problems

__all__ = [
    "Problem",
    "Scenario",
    "dump_effective",
    "format_path",
    "load_scenario",
    "loads_scenario",
    "problems",
    "scenario_from_data",
]
