"""Re-execute the notebooks in place, and say whether committed outputs are current.

``make notebooks`` runs this script: every notebook is executed top to bottom in a kernel of
this very interpreter (so it sees this venv's activitykit) with the notebook's directory as
working directory, and written back with its outputs and, in its metadata, the digest of the
code that produced them (:func:`code_digest`). ``tests/test_notebooks.py`` uses the same
functions to tell stale outputs from current ones:

* :func:`code_digest` changes when a code cell changes (cheap: no execution);
* :func:`semantic_outputs` is what a re-execution must reproduce: text as printed, tables,
  errors and the pixel size of each figure; not execution counts, timing metadata, memory
  addresses or the PNG bytes (which follow the matplotlib and FreeType versions, not the
  data).

Usage: ``python tools/notebooks.py [NOTEBOOK ...]`` (default: every ``notebooks/*.ipynb``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
#: Notebook metadata key holding what produced the committed outputs.
META_KEY = "activitykit"
KERNEL = "activitykit-notebooks"
#: Per-cell bound: the capacity sweep is the slowest cell (about a minute on a quiet machine).
CELL_TIMEOUT = 600

_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]+")


def code_digest(nb: nbformat.NotebookNode) -> str:
    """SHA-256 of the code cells' sources, in order: what the outputs are a function of.

    Markdown cells are left out (they produce no output); so is the library, whose changes
    only a re-execution can judge (see :func:`semantic_outputs`).
    """
    sources = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()


def png_size(data: str) -> tuple[int, int]:
    """(width, height) in pixels of a base64 PNG, read from its IHDR chunk."""
    raw = base64.b64decode(data[:64])  # signature (8) + IHDR length/type (8) + w, h (8)
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", raw[16:24])
    return width, height


def shrink_png(data: str) -> str:
    """``data`` (base64 PNG) re-encoded with a 256-colour palette: a third of the bytes.

    Antialiased lines make matplotlib's RGBA PNGs large (a 90-node graph is 600 kB); a
    palette of 256 colours, without dithering, keeps the figure's colours exact to the eye.
    Deterministic: the same figure gives the same bytes.
    """
    import io

    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        palette = image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    palette.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _text(value: Any) -> str:
    text = "".join(value) if isinstance(value, list) else str(value)
    return _ADDRESS.sub("at 0x…", text)


def semantic_outputs(nb: nbformat.NotebookNode) -> list[list[Any]]:
    """Per code cell, its outputs reduced to what a reader sees and a re-run must reproduce.

    Consecutive stream chunks are joined (the kernel may flush one print in several); rich
    outputs keep every text representation and, for images, the pixel size.
    """
    cells: list[list[Any]] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outs: list[Any] = []
        for out in cell.outputs:
            kind = out.output_type
            if kind == "stream":
                if outs and outs[-1][0] == "stream" and outs[-1][1] == out.name:
                    outs[-1][2] += _text(out.text)
                else:
                    outs.append(["stream", out.name, _text(out.text)])
            elif kind in ("execute_result", "display_data"):
                data = {
                    mime: (list(png_size(value)) if mime == "image/png" else _text(value))
                    for mime, value in sorted(out.data.items())
                }
                outs.append(["data", data])
            elif kind == "error":
                outs.append(["error", out.ename, _text(out.evalue)])
        cells.append(outs)
    return cells


def write_kernelspec(root: Path) -> Path:
    """A kernelspec under ``root`` running this interpreter; returns the JUPYTER_PATH entry."""
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "activitykit notebooks",
                "language": "python",
            }
        )
    )
    return root


def execute(path: Path, jupyter_path: Path) -> nbformat.NotebookNode:
    """``path`` executed top to bottom (a new object; the file is not touched).

    Raises ``nbclient.exceptions.CellExecutionError`` naming the failing cell. Timing is not
    recorded, so a re-execution differs from the file only where its outputs do. The kernel
    gets a temporary directory of its own (``TMPDIR``), removed afterwards: the notebooks
    leave their runs in a temporary directory for a reader to open, which an executor run
    by every ``make test`` must not pile up.
    """
    import os

    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    kernelspec = nb.metadata.get("kernelspec")
    saved = {name: os.environ.get(name) for name in ("JUPYTER_PATH", "TMPDIR")}
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        filter(None, [str(jupyter_path), saved["JUPYTER_PATH"]])
    )
    try:
        with tempfile.TemporaryDirectory(prefix="activitykit-notebook-") as tmp:
            os.environ["TMPDIR"] = tmp  # read by the kernel when it starts
            NotebookClient(
                nb,
                kernel_name=KERNEL,
                timeout=CELL_TIMEOUT,
                record_timing=False,
                resources={"metadata": {"path": str(path.parent)}},
            ).execute()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "image/png" in out.get("data", {}):
                out.data["image/png"] = shrink_png(out.data["image/png"])
    if kernelspec is not None:  # the file names the user's kernel, not this temporary one
        nb.metadata["kernelspec"] = kernelspec
    nb.metadata[META_KEY] = {"code_sha256": code_digest(nb)}
    return nb


def regenerate(path: Path, jupyter_path: Path) -> int:
    """Execute ``path`` and write it back with its outputs; returns the file's new size."""
    nb = execute(path, jupyter_path)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path.stat().st_size


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(NOTEBOOKS.glob("*.ipynb"))
    with tempfile.TemporaryDirectory(prefix="activitykit-kernels-") as tmp:
        jupyter_path = write_kernelspec(Path(tmp))
        for path in paths:
            size = regenerate(path, jupyter_path)
            print(f"executed {path} ({size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
