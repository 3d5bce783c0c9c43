"""The demo, ``sklearn-maxent`` or ``python -m sklearn_maxent``, the package's main job."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from sklearn_maxent.__main__ import main


def test_demo_finds_logistic_regressions_model(capsys):
    rows = main(["--dataset", "wine", "--cv", "3", "--alphas", "1e-3", "1e-2"])
    out = capsys.readouterr().out
    assert "MaxEntClassifier" in out
    assert "LogisticRegression" in out
    ours, _, tight = rows
    assert ours["accuracy"] > 0.9
    np.testing.assert_allclose(ours["proba"], tight["proba"], atol=1e-5)


def test_demo_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_maxent", "--help"], capture_output=True, text=True, check=True
    )
    assert "LogisticRegression" in result.stdout
    assert "--dataset" in result.stdout


def test_demo_command_is_installed_and_exits_cleanly():
    command = shutil.which("sklearn-maxent")
    if command is None:
        pytest.skip("the package is not installed (run from a source checkout on PYTHONPATH)")
    result = subprocess.run([command, "--help"], capture_output=True, text=True, check=True)
    assert "usage: sklearn-maxent" in result.stdout
