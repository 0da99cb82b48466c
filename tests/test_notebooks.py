"""The notebooks are tests: each runs top to bottom, and git holds them without outputs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = (
    "01-quickstart.ipynb",
    "02-capacity-planning.ipynb",
    "03-conformance.ipynb",
    "04-dependency-graphs.ipynb",
)
KERNEL = "activitykit-test-python"


def test_the_four_notebooks_are_there() -> None:
    found = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert found == sorted(EXPECTED)


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_valid_and_has_no_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.cells and nb.cells[0].cell_type == "markdown", "open with a title and the question"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name} cell {i} has outputs; strip them before commit"
            assert cell.execution_count is None, f"{name} cell {i} has an execution count"


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernelspec running this very interpreter, so the kernel sees this venv's packages."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "activitykit tests",
                "language": "python",
            }
        )
    )
    return root


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_top_to_bottom(
    name: str, kernel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbclient import NotebookClient

    monkeypatch.setenv(
        "JUPYTER_PATH", str(kernel_dir) + os.pathsep + os.environ.get("JUPYTER_PATH", "")
    )
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=240,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert errors == []
