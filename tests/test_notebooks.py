"""Every notebook in notebooks/ runs top to bottom without errors, and draws.

Each ``notebooks/*.ipynb`` (a glob: notebooks added later are run too) is read, executed in
memory by nbclient in a fresh "python3" kernel (installed by ipykernel, from the test extra)
with notebooks/ as its working directory, and never written back. An executed notebook must
contain at least one ``image/png`` output, unless its metadata opts out with
``{"sklearn_maxent": {"plots": false}}``. ``notebooks/run_all.py`` saves them with outputs.
"""

import os
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebook tests need the test extra: pip install '.[test]'")
nbclient = pytest.importorskip("nbclient", reason="notebook tests need the test extra: pip install '.[test]'")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
if not NOTEBOOK_DIR.is_dir():
    pytest.skip("notebooks/ is in the source checkout only", allow_module_level=True)
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 120  # seconds


@pytest.fixture
def kernel_environment(monkeypatch):
    """What the kernel inherits: the checkout importable (as under ``python -m pytest`` from the
    root), matplotlib's inline backend (an ``MPLBACKEND`` such as Agg would draw nothing) and one
    BLAS thread unless set, so that timings are stable on shared CI machines."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if variable not in os.environ:
            monkeypatch.setenv(variable, "1")


def outputs(notebook):
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs(path, kernel_environment, record_property):
    notebook = nbformat.read(path, as_version=4)  # executed in memory, never written back
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name} raised in a cell:\n{error}")
    seconds = time.perf_counter() - start
    record_property("seconds", round(seconds, 1))
    print(f"{path.name}: executed in {seconds:.1f} s")

    errors = [output for output in outputs(notebook) if output.output_type == "error"]
    assert not errors, f"{path.name}: {errors[0].ename}: {errors[0].evalue}"
    if notebook.metadata.get("sklearn_maxent", {}).get("plots", True):
        assert any("image/png" in output.get("data", {}) for output in outputs(notebook)), (
            f"{path.name} shows no plot (image/png output); if it has none on purpose, set its "
            'metadata {"sklearn_maxent": {"plots": false}}'
        )
