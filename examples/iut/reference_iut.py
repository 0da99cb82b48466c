#!/usr/bin/env python3
"""The reference model behind the subprocess protocol: passes every conformance case.

Run it by hand to see the protocol (one JSON request per line on stdin, one reply per line
on stdout)::

    echo '{"id": 1, "cmd": "hello", "protocol": "activitykit-iut/1"}' | python reference_iut.py

or test it: ``activitykit conform --iut "python examples/iut/reference_iut.py"``.
"""

from __future__ import annotations

import sys

from activitykit.conformance import ReferenceSystem, serve_stdio

if __name__ == "__main__":
    sys.exit(serve_stdio(ReferenceSystem()))
