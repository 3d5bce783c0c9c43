"""The benchmark suite keeps running: its data generators, the docstring corpus, smoke runs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if not BENCHMARKS.is_dir():
    pytest.skip("benchmarks/ is in the source checkout only", allow_module_level=True)
sys.path.insert(0, str(BENCHMARKS))
pytest.importorskip("matplotlib")
pytest.importorskip("threadpoolctl")

import l1  # noqa: E402
import real_text  # noqa: E402
from test_newton_cd import kkt_violation  # noqa: E402
from text_data import make_text_data, make_text_twin  # noqa: E402

from sklearn_maxent import MaxEntClassifier  # noqa: E402


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


def test_text_twin_has_the_shape_it_is_given():
    class_counts = [500, 300, 150, 40, 10]
    X, y = make_text_twin(n_docs=2_000, n_features=2**14, class_counts=class_counts, nnz_per_row=60, seed=1)
    X_again, y_again = make_text_twin(
        n_docs=2_000, n_features=2**14, class_counts=class_counts, nnz_per_row=60, seed=1
    )
    np.testing.assert_array_equal(y, y_again)
    np.testing.assert_array_equal(X.data, X_again.data)
    # The proportions exactly (1,000 documents given, 2,000 made), the mean non-zeros calibrated.
    np.testing.assert_array_equal(np.bincount(y), np.multiply(class_counts, 2))
    assert X.nnz / X.shape[0] == pytest.approx(60, rel=0.03)
    np.testing.assert_allclose(np.sqrt(X.multiply(X).sum(axis=1)).A1, 1.0)


def test_docstrings_of_a_module_its_classes_and_functions(tmp_path):
    source = tmp_path / "module.py"
    source.write_text(
        '"""The   module."""\n'
        "class A:\n"
        '    """The class."""\n'
        "    def f(self):\n"
        '        """The\n        method."""\n'
        "async def g():\n"
        '    """A coroutine."""\n'
        "def h():\n"
        "    return 1\n"
    )
    assert real_text.docstrings(str(source)) == ["The module.", "The class.", "A coroutine.", "The method."]
    broken = tmp_path / "python2.py"
    broken.write_text('print "hello"\n')
    assert real_text.docstrings(str(broken)) == []


def test_selection_drops_short_documents_duplicates_and_small_classes():
    long = "one two three four five six seven eight nine ten"
    texts = np.array([long, "too short", long, long + " a", long + " b", long + " c"], dtype=object)
    labels = np.array(["a", "a", "b", "a", "b", "c"])
    keep, dropped = real_text.select_documents(texts, labels, min_class_docs=2)
    # The second copy of the long text goes; "c" is left with one document, below 2.
    np.testing.assert_array_equal(keep, [True, False, False, True, False, False])
    assert dropped == {"short": 1, "duplicate": 1, "in_small_classes": 2, "small_classes": ["b", "c"]}


def test_split_by_module_keeps_modules_whole_and_every_class_in_train():
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], [500, 300, 40])
    modules = np.array([f"{label}/{rng.integers(25 if label != 'c' else 2)}.py" for label in labels])
    test = real_text.split_by_module(labels, modules, 0.2, np.random.default_rng(1))
    for module in np.unique(modules):
        assert len(set(test[modules == module])) == 1
    for label in np.unique(labels):
        assert not test[labels == label].all()
    assert test[labels != "c"].mean() == pytest.approx(0.2, abs=0.05)


def test_real_text_corpus_and_its_twin_load():
    """The quick corpus of this environment (built into benchmarks/.cache on first use)."""
    X_train, X_test, y_train, y_test = real_text.load_real_text(quick=True)
    info = real_text.real_text_info(quick=True)
    if len(info["classes"]) < 2:
        pytest.skip("too few documented packages installed for a corpus")
    assert X_train.format == X_test.format == "csr"
    assert X_train.dtype == X_test.dtype == np.float64
    assert X_train.shape == (info["n_train"], info["n_features"])
    assert X_test.shape == (info["n_test"], info["n_features"])
    np.testing.assert_array_equal(
        np.bincount(y_train, minlength=len(info["classes"])), info["class_counts_train"]
    )
    assert set(np.unique(y_test)) <= set(np.unique(y_train))
    norms = np.sqrt(X_train.multiply(X_train).sum(axis=1)).A1
    np.testing.assert_allclose(norms[norms > 0], 1.0)

    twin = real_text.load_text_twin(quick=True)
    assert [part.shape for part in twin] == [X_train.shape, X_test.shape, y_train.shape, y_test.shape]
    assert np.unique(twin[2]).size == len(info["classes"])
    assert twin[0].nnz / twin[0].shape[0] == pytest.approx(info["nnz_per_row_train"], rel=0.03)


def test_hashed_corpus_has_the_same_documents_in_hashed_columns():
    """Same rows and labels as the vocabulary's corpus; 2**20 columns, which a training set uses few of."""
    X_train, X_test, y_train, y_test = real_text.load_real_text(quick=True)
    if len(real_text.real_text_info(quick=True)["classes"]) < 2:
        pytest.skip("too few documented packages installed for a corpus")
    H_train, H_test, h_train, h_test = real_text.load_real_text(quick=True, hashed=True)
    np.testing.assert_array_equal(h_train, y_train)
    np.testing.assert_array_equal(h_test, y_test)
    assert H_train.shape == (X_train.shape[0], 2**20)
    assert H_test.shape == (X_test.shape[0], 2**20)
    used = np.unique(H_train.indices).size
    assert X_train.shape[1] <= used < 2**20 / 2  # no min_df: more columns than the vocabulary's
    norms = np.sqrt(H_train.multiply(H_train).sum(axis=1)).A1
    np.testing.assert_allclose(norms[norms > 0], 1.0)


def run_script(name, *arguments):
    """Run a benchmark script; its completed process, output captured."""
    # The package under test, also when it is not installed.
    path = os.pathsep.join([str(BENCHMARKS.parent), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
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


def test_streaming_benchmark_writes_its_tables_and_run_keeps_them(tmp_path):
    run_script("streaming.py", "--quick", "--datasets", "texttwin", "--Cs", "1", "--out", str(tmp_path))
    report = (tmp_path / "RESULTS.md").read_text()
    assert "## Streaming: one pass of `partial_fit`" in report
    assert report.count("| texttwin | 1 | 1,000 (") == 2  # the default and SGDClassifier
    streams = json.loads((tmp_path / "streaming.json").read_text())["datasets"]["texttwin"]["fits"]["1"][
        "streams"
    ]
    assert len(streams) == 2  # chunks of 1,000 and of random sizes
    assert all(
        len(row["accuracy_by_tenth"]) == 10 for stream in streams.values() for row in stream["rows"].values()
    )
    run_script("run.py", "--quick", "--datasets", "digits", "--out", str(tmp_path))
    report = (tmp_path / "RESULTS.md").read_text()
    assert report.index("## Streaming") < report.index("## digits")


def test_default_fit_takes_Cs_and_keeps_the_optimum_of_each(tmp_path):
    arguments = ("--datasets", "digits", "--Cs", "2", "--repeats", "1", "--out", str(tmp_path))
    first = run_script("default_fit.py", *arguments)
    assert first.stdout.count("fitting J*") == 1  # not again for the second thread setting
    assert (tmp_path / "RESULTS.md").read_text().count("| 2 | `MaxEntClassifier()`") == 2
    references = json.loads((tmp_path / "default_fit.json").read_text())["references"]
    assert list(references) == ["digits C=2"]
    assert "fitting J*" not in run_script("default_fit.py", *arguments).stdout


def test_cyanure_penalty_is_ours():
    """cyanure's lambda_1 at alpha minimizes our objective: its fit reaches our optimum."""
    pytest.importorskip("cyanure")
    import default_fit
    from run import objective

    from sklearn_maxent import MaxEntClassifier

    X, y = load_digits(return_X_y=True)
    X = X / 16
    alpha = 1.0 / X.shape[0]
    ours = MaxEntClassifier(alpha=alpha, tol=1e-10, random_state=0).fit(X, y)
    theirs = default_fit.estimators(1.0, X.shape[0], threads=1)["cyanure LogisticRegression(tol=1e-06)"]
    theirs.fit(X, y)
    optimum = objective(ours, X, y, alpha)
    assert objective(default_fit.sklearn_layout(theirs), X, y, alpha) == pytest.approx(optimum, rel=1e-5)


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


def test_newton_cd_certifies_weak_l1_on_text_with_rare_words():
    """A word of one document once had its weight run off to where its class's probability rounds
    to 1 (a score of 120), no curvature: the weight never came back, the fit stalled at a gap of 0.1."""
    X, y = make_text_data(n_docs=1200, n_features=4096, n_classes=5, nnz_per_row=30, seed=0)
    alpha = l1.alpha_max(X, y, 1.0) / 1000
    clf = MaxEntClassifier(alpha=alpha, l1_ratio=1.0, solver="newton-cd", max_iter=100).fit(X, y)
    assert kkt_violation(clf, X, y, alpha, 1.0) <= 1e-3  # it ran to precision: no certificate this small
    assert np.abs(clf.coef_ * abs(X).max(axis=0).toarray()).max() < 30


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_l1_certificate_tracks_the_true_gap_on_the_issue_problem(l1_ratio):
    """At the end of a default fit of issue 21's problem the certified gap is within 10x of the true
    gap, against a fit certified to 1e-11 (62.7x and 20x before the support's Newton steps)."""
    X, y = make_text_data(n_docs=3000, n_features=4096, n_classes=5, nnz_per_row=30, seed=0)
    alpha = l1.ALPHA_TIMES_N / len(y)
    tight = MaxEntClassifier(alpha=alpha, l1_ratio=l1_ratio, tol=1e-11, max_iter=100).fit(X, y)
    optimum = l1.objective(tight, X, y, alpha, l1_ratio)
    clf = MaxEntClassifier(alpha=alpha, l1_ratio=l1_ratio).fit(X, y)
    true_gap = (l1.objective(clf, X, y, alpha, l1_ratio) - optimum) / optimum
    assert true_gap <= clf.duality_gap_ <= 1e-6
    assert clf.duality_gap_ <= 10 * true_gap


def test_l1_benchmark_rows_and_section(tmp_path, monkeypatch):
    """benchmarks/l1.py on a small text problem: one comparison row, one path row, its section written."""
    monkeypatch.setattr(l1, "SAGA_BUDGET", 2.0)
    monkeypatch.setattr(l1, "PATH_LENGTH", 4)
    X, y = make_text_data(n_docs=300, n_features=512, n_classes=3, nnz_per_row=20, n_topic_words=50, seed=0)
    row = l1.compare(X, y, 1.0, repeats=1)
    assert row["certified_gap"] <= 1e-6
    assert row["true_gap"] <= row["certified_gap"] + 1e-12
    assert row["support_differences"] == 0
    path = l1.regularization_path(X, y, 0.5)
    assert path["largest_path_gap"] <= 1e-6
    report = {
        "machine": l1.machine(),
        "problems": {"small": {"compare": [row], "path": [path]}},
        "total_time": 1.0,
    }
    (tmp_path / "l1.json").write_text(json.dumps(report, default=float))
    l1.main(["--out", str(tmp_path), "--from-json"])
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.count(l1.BEGIN) == 1
    assert "| small | 1.0 |" in text
    assert "| small | 0.5 |" in text
