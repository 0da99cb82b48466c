"""Records turned into DataFrames, figures and HTML reports.

Extract, then render: ``metrics`` and ``series`` turn a trace into DataFrames and the key
figures; ``run.load_run`` gathers everything a report needs into a ``RunData``; ``figures``
draws matplotlib Figures from a ``RunData`` only; ``html`` writes the report files.
"""

from .metrics import KEY_FIGURE_NAMES, activity_table, key_figures

__all__ = ["KEY_FIGURE_NAMES", "activity_table", "key_figures"]
