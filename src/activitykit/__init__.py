"""activitykit: simulate, check and conformance-test Landscape-style fleet activities.

The house, in the direction data flows:

- ``activitykit.model``       the spec as data: states, state machines, profiles, types
- ``activitykit.scenario``    scenario files: one schema holding every default
- ``activitykit.sim``         where time passes: the SimPy model of server and fleet
- ``activitykit.trace``       the trace format (docs/trace-format.md): rules, readers, writers
- ``activitykit.check``       the rule engine that judges a trace against the spec
- ``activitykit.reports``     records turned into DataFrames, figures and HTML
- ``activitykit.conformance`` drive another implementation and compare it with the model
- ``activitykit.cli``         the ``activitykit`` command
"""

__version__ = "0.1.0"
