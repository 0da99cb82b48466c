"""The notebooks are committed with their outputs, and those outputs are current.

"Stale" is decided in two ways, one cheap and one thorough, by the functions
``make notebooks`` uses to write the outputs (``tools/notebooks.py``):

* fast: the digest of the code cells' sources that ``make notebooks`` stored in the notebook's
  metadata must match its code cells now. An edited cell whose outputs were not regenerated
  fails here, without executing anything. The outputs must also be the product of one clean
  top-to-bottom run (execution counts 1..n, no error, no stderr), portable (no path of this
  machine) and small (every PNG under 256 KiB, each notebook under 1 MiB).
* slow: each notebook is executed afresh and what a reader sees must equal what is committed
  (``semantic_outputs``: printed text, tables, errors, each figure's pixel size), ignoring
  execution counts, timing metadata, memory addresses and PNG bytes. This catches a library
  change that changed the notebooks' numbers. Every notebook is seeded, so a re-run of
  current outputs reproduces them exactly.

When either fails: ``make notebooks``, check the diff, commit.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = (
    "01-quickstart.ipynb",
    "02-capacity-planning.ipynb",
    "03-conformance.ipynb",
    "04-dependency-graphs.ipynb",
)
MAX_PNG = 256 * 1024
MAX_NOTEBOOK = 1024 * 1024
FIX = "run `make notebooks` and commit the result"


def _load_tool():
    spec = importlib.util.spec_from_file_location("notebooks_tool", ROOT / "tools" / "notebooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def test_the_four_notebooks_are_there() -> None:
    found = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert found == sorted(EXPECTED)


@pytest.mark.parametrize("name", EXPECTED)
def test_committed_outputs_come_from_the_committed_code(name: str) -> None:
    nb = _read(name)
    nbformat.validate(nb)
    assert nb.cells and nb.cells[0].cell_type == "markdown", "open with a title and the question"
    stored = nb.metadata.get(tool.META_KEY, {}).get("code_sha256")
    assert stored is not None, f"{name} has no outputs from `make notebooks`; {FIX}"
    assert stored == tool.code_digest(nb), f"{name}: code cells changed since its outputs; {FIX}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{name}: not one top-to-bottom run; {FIX}"
    for i, cell in enumerate(code, 1):
        for out in cell.outputs:
            assert out.output_type != "error", f"{name} cell [{i}] failed: {out.get('evalue')}"
            if out.output_type == "stream":
                assert out.name == "stdout", f"{name} cell [{i}] wrote to stderr: {out.text!r}"


@pytest.mark.parametrize("name", EXPECTED)
def test_committed_outputs_are_portable_and_small(name: str) -> None:
    text = (NOTEBOOKS / name).read_text(encoding="utf-8")
    assert len(text.encode()) <= MAX_NOTEBOOK, f"{name}: {len(text) / 1024:.0f} KiB"
    for leak in {str(ROOT), tempfile.gettempdir() + "/", sys.executable}:
        assert leak not in text, f"{name} shows a path of this machine: {leak}"
    nb = _read(name)
    images = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if png is None:
                continue
            images += 1
            size = len(base64.b64decode(png))
            assert size <= MAX_PNG, f"{name}: a {size / 1024:.0f} KiB figure; shrink it"
            width, height = tool.png_size(png)
            assert 200 <= width <= 2000 and 200 <= height <= 2000, (name, width, height)
    if name != "03-conformance.ipynb":  # the others show figures; they must have rendered
        assert images > 0, f"{name} has no figure in its outputs; {FIX}"


def test_semantic_outputs_ignore_noise_and_see_content() -> None:
    nb = _read("01-quickstart.ipynb")
    base = tool.semantic_outputs(nb)
    noisy = nbformat.reads(nbformat.writes(nb), as_version=4)
    for cell in noisy.cells:
        if cell.cell_type == "code":
            cell.execution_count = (cell.execution_count or 0) + 7
            cell.metadata["execution"] = {"iopub.status.idle": "2030-01-01T00:00:00Z"}
    assert tool.semantic_outputs(noisy) == base
    # a printed number that differs is a stale output
    first = next(c for c in noisy.cells if c.cell_type == "code" and c.outputs)
    stream = next(o for o in first.outputs if o.output_type == "stream")
    stream.text = stream.text.replace("True", "False")
    assert tool.semantic_outputs(noisy) != base
    # a repr's memory address is not content; a split print is the same print
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="<obj at 0x7f12ab>\nab"),
        nbformat.v4.new_output("stream", name="stdout", text="c\n"),
    ]
    other = nbformat.v4.new_code_cell("x")
    other.outputs = [nbformat.v4.new_output("stream", name="stdout", text="<obj at 0x55aa>\nabc\n")]
    one, two = nbformat.v4.new_notebook(), nbformat.v4.new_notebook()
    one.cells, two.cells = [cell], [other]
    assert tool.semantic_outputs(one) == tool.semantic_outputs(two)


@pytest.fixture(scope="module")
def jupyter_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tool.write_kernelspec(tmp_path_factory.mktemp("jupyter"))


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", EXPECTED)
def test_a_fresh_run_reproduces_the_committed_outputs(name: str, jupyter_path: Path) -> None:
    # what the notebook leaves for its reader goes to the kernel's own temporary directory
    code = "\n".join(c.source for c in _read(name).cells if c.cell_type == "code")
    prefixes = re.findall(r'mkdtemp\(prefix="([^"]+)"', code)
    tmp = Path(tempfile.gettempdir())
    before = {p for x in prefixes for p in tmp.glob(x + "*")}
    fresh = tool.execute(NOTEBOOKS / name, jupyter_path)  # CellExecutionError names the cell
    assert {p for x in prefixes for p in tmp.glob(x + "*")} == before
    committed = tool.semantic_outputs(_read(name))
    for i, (new, old) in enumerate(zip(tool.semantic_outputs(fresh), committed, strict=True), 1):
        assert new == old, f"{name} cell [{i}]: its committed outputs are stale; {FIX}"
