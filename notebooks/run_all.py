"""Re-execute notebooks top to bottom and save them with their outputs.

Usage, from the repository root (needs only the test extra: ``pip install ".[test]"``)::

    python notebooks/run_all.py                        # every notebooks/*.ipynb
    python notebooks/run_all.py notebooks/02_the_math.ipynb

Each notebook runs in a fresh "python3" kernel with its working directory set to notebooks/, the
repository root first on the kernel's PYTHONPATH (so the checkout's sklearn_maxent is used, as by
``python -m pytest`` from the root) and one BLAS thread unless the environment sets one, as in
tests/test_notebooks.py.
"""

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent
ROOT = NOTEBOOKS.parent


def kernel_environment():
    """The environment the kernel inherits: the checkout importable, matplotlib inline, 1 BLAS thread."""
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ.pop("MPLBACKEND", None)  # ipykernel then draws inline (image/png outputs)
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")


def main(paths):
    kernel_environment()
    for path in paths or sorted(NOTEBOOKS.glob("*.ipynb")):
        path = Path(path).resolve()
        notebook = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(
            notebook,
            timeout=120,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            record_timing=False,  # no timestamps in the saved file: smaller diffs
        ).execute()
        nbformat.write(notebook, path)
        print(f"{path.relative_to(ROOT)}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
