"""Names a package exports but imports only on first use (PEP 562).

Four packages need it, each for a cheap import of the package itself: ``conformance``
(its pytest plugin is imported by every pytest run), ``experiments`` (``activitykit run
--help`` reads its CLI arguments), ``reports`` (simulation workers read key figures
from ``reports.metrics`` and should not pay for networkx and the HTML writer) and ``trace``
(its DataFrame helpers need pandas, which ``activitykit check`` never does).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, where: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, exporting ``where[module]`` names.

    ``where`` maps a submodule's name to the names it provides; a name is imported from
    its submodule the first time it is asked for, then kept in the package's namespace.
    """
    home = {name: module for module, names in where.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = home.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *home})

    return __getattr__, __dir__
