"""The benchmark suite keeps running: its data generator and a smoke run."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
pytest.importorskip("matplotlib")
pytest.importorskip("threadpoolctl")

from text_data import make_text_data  # noqa: E402


def test_text_data_is_seeded_sparse_and_normalized():
    X, y = make_text_data(n_docs=2_000, n_features=2**14, n_classes=5, nnz_per_row=80, seed=3)
    X_again, y_again = make_text_data(n_docs=2_000, n_features=2**14, n_classes=5, nnz_per_row=80, seed=3)
    assert X.format == "csr"
    assert X.shape == (2_000, 2**14)
    np.testing.assert_array_equal(y, y_again)
    np.testing.assert_array_equal(X.toarray(), X_again.toarray())
    assert 40 <= X.nnz / X.shape[0] <= 100
    np.testing.assert_allclose(np.sqrt(X.multiply(X).sum(axis=1)).A1, 1.0)
    assert set(np.unique(y)) == set(range(5))


def run_script(name, *arguments):
    # The package under test, also when it is not installed.
    path = os.pathsep.join([str(BENCHMARKS.parent), os.environ.get("PYTHONPATH", "")])
    subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *arguments],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )


def test_quick_benchmark_writes_results(tmp_path):
    run_script("run.py", "--quick", "--datasets", "digits", "--out", str(tmp_path))
    report = (tmp_path / "RESULTS.md").read_text()
    assert "MaxEnt auto" in report
    assert "LR lbfgs" in report
    assert (tmp_path / "gap_vs_time_digits.png").stat().st_size > 0
    assert (tmp_path / "results.json").exists()


def test_default_fit_tables_come_first_and_survive_a_run(tmp_path):
    run_script("default_fit.py", "--datasets", "digits", "--repeats", "1", "--out", str(tmp_path))
    report = (tmp_path / "RESULTS.md").read_text()
    assert report.index("## Default fits") < report.index("| digits")
    assert report.count("`MaxEntClassifier()`") == 2  # one row per thread setting
    run_script("run.py", "--quick", "--datasets", "digits", "--out", str(tmp_path))
    report = (tmp_path / "RESULTS.md").read_text()
    assert report.index("## Default fits") < report.index("## digits")


def test_gpu_benchmark_runs_where_it_can(tmp_path):
    """Without PyTorch or a GPU it exits cleanly; with PyTorch its CPU smoke test writes a table."""
    try:
        import torch  # noqa: F401
    except ImportError:
        run_script("gpu.py", "--quick")
        return
    run_script(
        "gpu.py",
        "--quick",
        "--device",
        "cpu",
        "--datasets",
        "dense",
        "--repeats",
        "1",
        "--out",
        str(tmp_path),
    )
    assert "| dense (" in (tmp_path / "GPU.md").read_text()
