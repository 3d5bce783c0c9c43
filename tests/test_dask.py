"""DaskMaxEntClassifier on a two-process LocalCluster: same optimum, data kept on the workers."""

import os
import pickle
import signal
import warnings

import numpy as np
import pytest
from scipy import sparse

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from distributed import Client, LocalCluster  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402

import sklearn_maxent.dask as maxent_dask  # noqa: E402
from sklearn_maxent import MaxEntClassifier  # noqa: E402
from sklearn_maxent.dask import DaskMaxEntClassifier  # noqa: E402

ALPHA = 1e-3


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, processes=True, host="127.0.0.1", dashboard_address=None, threads_per_worker=1
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def make_data(n, d, n_classes, chunk, seed):
    """Lazy data, generated on the workers: labels drawn from a softmax model (Gumbel-max)."""
    rng = da.random.default_rng(seed)
    X = rng.standard_normal((n, d), chunks=(chunk, d))
    W = np.random.default_rng(seed).standard_normal((d, n_classes))
    y = (X @ W + rng.gumbel(size=(n, n_classes), chunks=(chunk, n_classes))).argmax(axis=1)
    return X, y


def make_sparse_data(n, d, n_classes, seed, nnz_per_row=15):
    """In-memory CSR data of about ``nnz_per_row`` non-zeros a row, labels drawn from a softmax model."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), rng.poisson(nnz_per_row, n))
    columns = rng.integers(0, d, rows.size)
    X = sparse.csr_matrix((rng.standard_exponential(rows.size), (rows, columns)), shape=(n, d))
    scores = X @ (3 * rng.standard_normal((d, n_classes)))
    return X, (scores + rng.gumbel(size=(n, n_classes))).argmax(axis=1)


def as_chunks(X, layout, chunk):
    """In-memory ``X`` (CSR) as a dask array of ``chunk`` rows per chunk: dense, CSR or CSC chunks."""
    csr_chunks = da.from_array(X, chunks=(chunk, -1), asarray=False)
    if layout == "dense":  # densified on the workers: the graph holds the sparse matrix
        return csr_chunks.map_blocks(sparse.csr_matrix.toarray, meta=np.empty((0, 0), X.dtype))
    return to_layout(csr_chunks, layout)


def to_layout(X, layout):
    """Each chunk of the dask array ``X`` made a ``layout`` (csr, csc, coo) matrix; "dense" leaves ``X``."""
    if layout == "dense":
        return X
    kind = {"csr": sparse.csr_matrix, "csc": sparse.csc_matrix, "coo": sparse.coo_matrix}[layout]
    return X.map_blocks(kind, meta=kind((0, 0), dtype=X.dtype))


def objective(model, X, y, sample_weight=None):
    """J of a fitted model (L2 penalty) on in-memory data."""
    proba = model.predict_proba(X)
    return log_loss(y, proba, sample_weight=sample_weight, labels=model.classes_) + 0.5 * ALPHA * float(
        np.vdot(model.coef_, model.coef_)
    )


def assert_same_optimum(dask_model, reference, X, y, sample_weight=None):
    j_dask = objective(dask_model, X, y, sample_weight)
    j_ref = objective(reference, X, y, sample_weight)
    assert abs(j_dask - j_ref) <= 1e-3 * abs(j_ref)
    np.testing.assert_allclose(dask_model.predict_proba(X), reference.predict_proba(X), atol=1e-6)


def test_multiclass_reaches_the_single_machine_optimum(client):
    X, y = make_data(10_000, 10, 4, 1_250, seed=0)
    clf = DaskMaxEntClassifier(alpha=ALPHA).fit(X, y)
    Xc, yc = X.compute(), y.compute()
    reference = MaxEntClassifier(alpha=ALPHA, tol=1e-10).fit(Xc, yc)
    assert_same_optimum(clf, reference, Xc, yc)
    # The exact full-batch method: the same optimum to rounding, not just to 1e-3.
    np.testing.assert_allclose(clf.coef_, reference.coef_, atol=1e-7)
    np.testing.assert_allclose(clf.intercept_.sum(), 0, atol=1e-12)
    logistic = LogisticRegression(C=1 / (ALPHA * Xc.shape[0]), tol=1e-10, max_iter=1_000).fit(Xc, yc)
    assert_same_optimum(clf, logistic, Xc, yc)

    proba = clf.predict_proba(X)
    labels = clf.predict(X)
    assert isinstance(proba, da.Array)
    assert isinstance(labels, da.Array)
    np.testing.assert_allclose(proba.compute(), reference.predict_proba(Xc), atol=1e-6)
    np.testing.assert_array_equal(labels.compute(), reference.predict(Xc))
    assert clf.score(X, y) == pytest.approx(reference.score(Xc, yc))
    # Plain arrays in, plain arrays out.
    assert isinstance(clf.predict_proba(Xc[:5]), np.ndarray)


def test_binary_with_sample_weight(client):
    X, y = make_data(12_000, 6, 2, 3_000, seed=1)
    weights = da.random.default_rng(11).uniform(0, 3, size=X.shape[0], chunks=3_000)
    clf = DaskMaxEntClassifier(alpha=ALPHA).fit(X, y, sample_weight=weights)
    assert clf.coef_.shape == (1, 6)
    Xc, yc, wc = X.compute(), y.compute(), weights.compute()
    reference = MaxEntClassifier(alpha=ALPHA, tol=1e-10, solver="lbfgs").fit(Xc, yc, sample_weight=wc)
    assert_same_optimum(clf, reference, Xc, yc, wc)
    logistic = LogisticRegression(C=1 / (ALPHA * wc.sum()), tol=1e-10, max_iter=1_000)
    assert_same_optimum(clf, logistic.fit(Xc, yc, sample_weight=wc), Xc, yc, wc)
    assert clf.decision_function(X).compute().shape == (X.shape[0],)


def test_elastic_net_class_weight_and_label_smoothing_match(client):
    X, y = make_data(8_000, 8, 3, 2_000, seed=2)
    params = {"alpha": 1e-2, "l1_ratio": 0.5, "class_weight": "balanced", "label_smoothing": 0.1}
    clf = DaskMaxEntClassifier(**params).fit(X, y)
    reference = MaxEntClassifier(**params, tol=1e-10, solver="lbfgs").fit(X.compute(), y.compute())
    np.testing.assert_allclose(clf.coef_, reference.coef_, atol=1e-6)
    np.testing.assert_array_equal(clf.coef_ == 0, reference.coef_ == 0)
    np.testing.assert_allclose(clf.class_count_, reference.class_count_)


def test_dask_dataframe_input_and_to_local(client):
    dd = pytest.importorskip("dask.dataframe")
    X, y = make_data(6_000, 5, 3, 1_500, seed=3)
    columns = [f"f{i}" for i in range(5)]
    frame = dd.from_dask_array(X, columns=columns)
    labels = dd.from_dask_array(y)
    clf = DaskMaxEntClassifier(alpha=ALPHA).fit(frame, labels)
    np.testing.assert_array_equal(clf.feature_names_in_, columns)
    pandas_X = frame.compute()
    reference = MaxEntClassifier(alpha=ALPHA, solver="lbfgs").fit(pandas_X, y.compute())
    np.testing.assert_allclose(clf.coef_, reference.coef_, atol=1e-7)

    proba = clf.predict_proba(frame)
    assert isinstance(proba, da.Array)
    local = clf.to_local()
    assert isinstance(local, MaxEntClassifier)
    np.testing.assert_allclose(proba.compute(), local.predict_proba(pandas_X))
    for name in ("classes_", "coef_", "intercept_", "class_count_", "feature_names_in_"):
        np.testing.assert_array_equal(getattr(local, name), getattr(clf, name))
    assert local.n_iter_ == clf.n_iter_
    assert local.n_features_in_ == 5
    # The local model goes on learning from a stream.
    local.partial_fit(pandas_X, y.compute())

    clf.client = client
    restored = pickle.loads(pickle.dumps(clf))
    assert restored.client is None
    np.testing.assert_array_equal(restored.coef_, clf.coef_)


def test_soft_labels_match(client):
    X, y = make_data(4_000, 4, 3, 1_000, seed=4)
    Y = da.eye(3, chunks=3)[y] * 0.7 + 0.1
    clf = DaskMaxEntClassifier(alpha=ALPHA).fit(X, Y)
    reference = MaxEntClassifier(alpha=ALPHA, tol=1e-10, solver="lbfgs").fit(X.compute(), Y.compute())
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    np.testing.assert_allclose(clf.coef_, reference.coef_, atol=1e-7)


def _bytes_sent_to_non_workers(client):
    """Bytes the workers have sent to the client or the scheduler (their transfer logs)."""

    def sent(dask_worker):
        return [(entry["who"], entry["total"]) for entry in dask_worker.transfer_outgoing_log]

    logs = client.run(sent)
    worker_addresses = set(client.scheduler_info()["workers"])
    return sum(total for entries in logs.values() for who, total in entries if who not in worker_addresses)


def test_training_data_never_reach_the_client(client):
    X, y = make_data(100_000, 20, 5, 12_500, seed=5)
    client.run(lambda dask_worker: dask_worker.transfer_outgoing_log.clear())
    clf = DaskMaxEntClassifier(alpha=ALPHA, tol=1e-6).fit(X, y)
    sent = _bytes_sent_to_non_workers(client)
    # One gradient (20 x 5 float64) and intercept per worker and evaluation, and small summaries.
    assert 0 < sent < X.nbytes / 50
    assert sent < clf.n_evaluations_ * 2 * (20 * 5 + 5) * 8 * 2 + 50_000
    assert clf.score(X, y) > 0.5


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_worker_killed_mid_fit_is_recovered_or_fails_clearly(client, monkeypatch, layout):
    # Sparse chunks are one block per worker: a lost one is remade from the chunks' graph.
    X, y = make_data(10_000, 10, 4, 1_250, seed=6)
    X = to_layout(X, layout)
    reference = MaxEntClassifier(alpha=ALPHA, tol=1e-10, solver="lbfgs").fit(X.compute(), y.compute())
    pids = client.run(os.getpid)
    evaluate = maxent_dask._DistributedObjective.data_loss_gradient
    calls = []

    def evaluate_and_kill(self, coef, intercept):
        calls.append(1)
        if len(calls) == 3:
            # The third gradient evaluation runs without one of the workers and its data.
            os.kill(next(iter(pids.values())), signal.SIGKILL)
        return evaluate(self, coef, intercept)

    monkeypatch.setattr(maxent_dask._DistributedObjective, "data_loss_gradient", evaluate_and_kill)
    clf = DaskMaxEntClassifier(alpha=ALPHA)
    error = None
    try:
        clf.fit(X, y)
    except Exception as raised:
        error = raised
    finally:
        client.wait_for_workers(2, timeout=60)
    if error is None:
        # Dask recomputed the lost partitions and reran the lost tasks: the same optimum.
        assert len(calls) > 3
        np.testing.assert_allclose(clf.coef_, reference.coef_, atol=1e-7)
    else:
        # A clear error, and no half-fitted model.
        assert str(error)
        assert not hasattr(clf, "coef_")
    assert set(client.run(os.getpid).values()) != set(pids.values())


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda X, y: (X, y[:-1].compute()), "same length"),
        (lambda X, y: (X, y[:-1]), "same length"),
        (lambda X, y: (X, y, np.ones(5)), "same length"),
        (lambda X, y: (X, y * 0), "only one class"),
        (lambda X, y: (da.where(X > 3, np.nan, X), y), "NaN"),
        (lambda X, y: (X, y, -da.ones(y.shape[0], chunks=X.chunks[0])), "negative"),
        (lambda X, y: (X[:, 0], y), "2-D"),
    ],
)
def test_bad_input_is_a_clear_value_error(client, make_args, message):
    X, y = make_data(2_000, 4, 3, 500, seed=7)
    with pytest.raises(ValueError, match=message):
        DaskMaxEntClassifier().fit(*make_args(X, y))


def test_in_memory_X_is_a_type_error(client):
    with pytest.raises(TypeError, match="dask array"):
        DaskMaxEntClassifier().fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_dask_ml_incremental_with_partial_fit(client):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = make_data(8_000, 6, 3, 1_000, seed=8)
    model = wrappers.Incremental(MaxEntClassifier(alpha=ALPHA, random_state=0), scoring="accuracy")
    model.fit(X, y, classes=[0, 1, 2])
    Xc, yc = X.compute(), y.compute()
    full = MaxEntClassifier(alpha=ALPHA, solver="lbfgs").fit(Xc, yc)
    assert model.score(X, y) > full.score(Xc, yc) - 0.05
    assert model.predict(X).compute().shape == (8_000,)


def test_callbacks_see_each_iteration_and_can_stop(client):
    from sklearn.callback import ScoringMonitor
    from test_callbacks import Recorder

    X, y = make_data(8_000, 6, 3, 2_000, seed=4)
    Xc, yc = X.compute(), y.compute()
    monitor = ScoringMonitor(scoring="neg_log_loss")
    clf = DaskMaxEntClassifier(alpha=ALPHA).set_callbacks(monitor).fit(X, y)
    log = monitor.get_logs().data
    steps = [entry for entry in log if entry["task_name"] != "fit"]
    assert len(steps) == clf.n_iter_
    assert len(log) == clf.n_iter_ + 1
    assert {entry["task_name"] for entry in steps} <= {"lbfgs-iter", "newton-iter"}
    final = -log_loss(yc, clf.predict_proba(Xc))
    assert steps[-1]["neg_log_loss"] == pytest.approx(final, rel=1e-10)

    recorder = Recorder(stop_after=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a requested stop is no failure: no ConvergenceWarning
        stopped = DaskMaxEntClassifier(alpha=ALPHA).set_callbacks(recorder).fit(X, y)
    assert stopped.n_iter_ == 2
    np.testing.assert_array_equal(stopped.coef_, recorder.models[-1][0])


def _options_problem(n_classes, seed):
    """Data on the workers with an offset (chunked unlike X), and penalty factors, bounds and a prior."""
    X, y = make_data(6_000, 6, n_classes, 1_500, seed=seed)
    rng = np.random.default_rng(seed)
    offset_shape = (X.shape[0], n_classes) if n_classes > 2 else (X.shape[0],)
    offset = 0.5 * da.random.default_rng(seed + 100).standard_normal(offset_shape, chunks=1_000)
    factor = rng.uniform(0.2, 3.0, X.shape[1])
    factor[0] = 0.0  # unpenalized, but bounded: a certificate exists
    params = {
        "penalty_factor": factor,
        "bounds": (-0.4, np.where(np.arange(X.shape[1]) % 2 == 0, 0.6, np.inf)),
        "coef_prior": 0.3 * rng.standard_normal((1 if n_classes == 2 else n_classes, X.shape[1])),
    }
    return X, y, offset, params


@pytest.mark.parametrize(
    ("n_classes", "l1_ratio", "layout"),
    [
        (3, 0.0, "dense"),
        (3, 1.0, "dense"),
        (2, 0.5, "dense"),
        (3, 0.0, "csr"),
        (2, 0.5, "csc"),
        (3, 1.0, "coo"),
    ],
)
def test_penalty_factor_bounds_prior_and_offset_match_the_single_machine_fit(
    client, n_classes, l1_ratio, layout
):
    X, y, offset, params = _options_problem(n_classes, seed=7)
    X = to_layout(X, layout)
    params.update(alpha=0.02, l1_ratio=l1_ratio, tol=1e-10)
    assert offset.chunks[0] != X.chunks[0]  # aligned to X's partitions by fit
    clf = DaskMaxEntClassifier(**params).fit(X, y, offset=offset)
    Xc, yc, oc = X.compute(), y.compute(), offset.compute()
    reference = MaxEntClassifier(**params, solver="lbfgs").fit(Xc, yc, offset=oc)
    np.testing.assert_allclose(
        clf.predict_proba(X, offset=offset).compute(), reference.predict_proba(Xc, offset=oc), atol=1e-6
    )
    # The unpenalized feature's weights are unique only up to a common shift where the penalty has no
    # L2 part (multiclass): the weights of the penalized ones are.
    np.testing.assert_allclose(clf.coef_[:, 1:], reference.coef_[:, 1:], atol=1e-6)
    lower, upper = params["bounds"]
    assert clf.coef_.min() >= lower
    assert (clf.coef_ <= upper).all()
    np.testing.assert_array_equal(clf.predict(X, offset=offset).compute(), reference.predict(Xc, offset=oc))
    scores = clf.decision_function(X, offset=offset).compute()
    reference_scores = reference.decision_function(Xc, offset=oc)
    if n_classes > 2:  # unique up to a shift common to a row's classes (see above)
        scores, reference_scores = (s - s.mean(axis=1, keepdims=True) for s in (scores, reference_scores))
    np.testing.assert_allclose(scores, reference_scores, atol=1e-6)
    np.testing.assert_allclose(
        clf.predict_log_proba(X, offset=offset).compute(),
        reference.predict_log_proba(Xc, offset=oc),
        atol=1e-6,
    )
    assert clf.score(X, y, offset=offset) == pytest.approx(reference.score(Xc, yc, offset=oc))
    # In-memory X and offset: the local model, as MaxEntClassifier.
    np.testing.assert_allclose(
        clf.predict_proba(Xc, offset=oc), reference.predict_proba(Xc, offset=oc), atol=1e-6
    )
    local = clf.to_local()
    for name in ("penalty_factor", "coef_prior"):
        np.testing.assert_array_equal(local.get_params()[name], params[name])
    np.testing.assert_array_equal(local.predict_proba(Xc, offset=oc), clf.predict_proba(Xc, offset=oc))


def test_offset_with_a_dask_dataframe(client):
    dd = pytest.importorskip("dask.dataframe")
    X, y, offset, _ = _options_problem(3, seed=8)
    frame = dd.from_dask_array(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = DaskMaxEntClassifier(alpha=ALPHA).fit(frame, dd.from_dask_array(y), offset=offset)
    reference = MaxEntClassifier(alpha=ALPHA, solver="lbfgs").fit(
        frame.compute(), y.compute(), offset=offset.compute()
    )
    proba = clf.predict_proba(frame, offset=offset)
    assert proba.shape == (X.shape[0], 3)
    np.testing.assert_allclose(
        proba.compute(), reference.predict_proba(frame.compute(), offset=offset.compute()), atol=1e-6
    )
    assert clf.score(frame, y, offset=offset) == pytest.approx(
        reference.score(frame.compute(), y.compute(), offset=offset.compute())
    )


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_certificate_includes_the_offset_and_prior_terms(client, layout):
    """The distributed dual equals Objective's (whose offset term _duality.data_conjugate_sum adds)."""
    from sklearn_maxent._model._objective import Objective
    from sklearn_maxent._options import Prior, check_offset

    X, y, offset, params = _options_problem(3, seed=9)
    X = to_layout(X, layout)
    Xc, yc, oc = X.compute(), y.compute(), offset.compute()
    classes = np.arange(3)
    prior = Prior.checked(params["coef_prior"], params["bounds"], X.shape[1], 3)
    for penalty in (prior.penalty(0.05, 0.0, params["penalty_factor"]), prior.penalty(0.05, 1.0, None)):
        raw = maxent_dask._raw_blocks(
            client, np.dtype(np.float64), X, y, None, maxent_dask._aligned(offset, X.chunks[0], "offset")
        )
        blocks = [
            client.submit(
                maxent_dask._final_block, False, classes, None, float(X.shape[0]), 0.0, prior, b, pure=False
            )
            for b in raw
        ]
        distributed_objective = maxent_dask._DistributedObjective(
            client, blocks, (X.shape[0], X.shape[1], 3), X.size, np.float64, penalty, True, False
        )
        local = Objective(
            Xc,
            np.eye(3)[yc],
            np.ones(len(yc)),
            penalty,
            True,
            False,
            prior.offset(Xc, check_offset(oc, len(yc), 3, np.float64), np.float64),
        )
        # A point within the bounds at which the gap is finite (the dual value positive).
        coef = penalty.project(0.1 * np.random.default_rng(0).standard_normal((X.shape[1], 3)))
        intercept = np.array([0.1, -0.2, 0.1])
        value, gap = distributed_objective.certified_gap(coef, intercept)
        expected_value, expected_gap = local.certified_gap(coef, intercept)
        assert np.isfinite(gap)
        assert value == pytest.approx(expected_value, rel=1e-12)
        assert gap == pytest.approx(expected_gap, rel=1e-9)
        client.cancel(blocks)


@pytest.mark.parametrize(
    ("params", "fit_kwargs", "error", "match"),
    [
        ({"penalty_factor": [1.0, 2.0]}, {}, ValueError, r"one entry per feature, shape \(6,\)"),
        ({"bounds": (1.0, 0.0)}, {}, ValueError, "lower > upper"),
        ({"coef_prior": np.zeros((2, 6))}, {}, ValueError, r"coef_'s shape \(3, 6\)"),
        ({}, {"offset": np.zeros((6_000, 2))}, ValueError, r"offset must have shape \(6000, 3\)"),
        ({}, {"offset": np.zeros((5_999, 3))}, ValueError, "X has 6000 rows but offset has 5999"),
        ({}, {"offset": np.full((6_000, 3), "a")}, TypeError, "real numbers"),
        ({}, {"offset": np.full((6_000, 3), np.nan)}, ValueError, "partition 0: offset contains NaN"),
    ],
)
def test_bad_options_are_clear_errors_and_change_nothing(client, params, fit_kwargs, error, match):
    X, y, _, _ = _options_problem(3, seed=10)
    clf = DaskMaxEntClassifier(alpha=ALPHA).fit(X, y)
    before = clf.coef_.copy()
    with pytest.raises(error, match=match):
        clf.set_params(**params).fit(X, y, **fit_kwargs)
    np.testing.assert_array_equal(clf.coef_, before)
    # At prediction too, before any computation; dask offsets of X's length in other chunks are rechunked.
    with pytest.raises(ValueError, match="X has 6000 rows but offset has 10"):
        clf.predict(X, offset=np.zeros((10, 3)))
    with pytest.raises(ValueError, match="X has 6000 rows but offset has 5999"):
        clf.predict_proba(X, offset=da.zeros((5_999, 3), chunks=1_000))


def test_without_an_l2_part_the_canonical_solution_is_that_of_maxentclassifier(client):
    # alpha=0: the optimum is unique only up to a shift of each feature's weights over the classes;
    # both estimators return the centred one (MaxEntClassifier's coef_ documents it).
    X, y = make_data(4_000, 4, 3, 1_000, seed=11)
    clf = DaskMaxEntClassifier(alpha=0.0).fit(X, y)
    reference = MaxEntClassifier(alpha=0.0, solver="lbfgs").fit(X.compute(), y.compute())
    np.testing.assert_allclose(clf.coef_.sum(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(clf.coef_, reference.coef_, atol=1e-6)


# ------------------------------------------------------------ sparse chunks


@pytest.mark.parametrize("layout", ["csr", "csc", "dense"])
def test_sparse_chunks_reach_the_single_machine_optimum(client, layout):
    X, y = make_sparse_data(2_400, 1_500, 4, seed=20)
    weights = np.random.default_rng(21).uniform(0, 3, X.shape[0])
    alpha = 1 / X.shape[0]
    X_chunked = as_chunks(X, layout, 600)
    clf = DaskMaxEntClassifier(alpha=alpha).fit(X_chunked, y, sample_weight=weights)
    # The same matrix in memory, dense or sparse: where a fit stops depends on the entries a pass
    # multiplies (here sparse passes go on to the arithmetic's precision, dense ones stop at tol).
    X_local = X_chunked.compute()
    reference = MaxEntClassifier(alpha=alpha, solver="lbfgs").fit(X_local, y, sample_weight=weights)
    assert clf.duality_gap_ <= 1e-6
    proba = clf.predict_proba(X_chunked)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), reference.predict_proba(X_local), atol=1e-6)
    np.testing.assert_allclose(
        clf.predict_log_proba(X_chunked).compute(), reference.predict_log_proba(X_local), atol=1e-6
    )
    np.testing.assert_allclose(
        clf.decision_function(X_chunked).compute(), reference.decision_function(X_local), atol=1e-6
    )
    np.testing.assert_array_equal(clf.predict(X_chunked).compute(), reference.predict(X_local))
    assert clf.score(X_chunked, y, sample_weight=weights) == pytest.approx(
        reference.score(X_local, y, sample_weight=weights)
    )


def test_sparse_elastic_net_binary_matches(client):
    X, y = make_sparse_data(3_000, 2_000, 2, seed=22)
    params = {"alpha": 3e-3, "l1_ratio": 0.5, "class_weight": "balanced"}
    X_chunked = as_chunks(X, "csr", 1_000)
    # Labels in other chunks than X's: aligned to its partitions by fit.
    clf = DaskMaxEntClassifier(**params).fit(X_chunked, da.from_array(y, chunks=700))
    reference = MaxEntClassifier(**params, solver="lbfgs", tol=1e-10).fit(X, y)
    assert clf.duality_gap_ <= 1e-6
    assert 0 < (clf.coef_ == 0).sum() < clf.coef_.size
    np.testing.assert_allclose(clf.coef_, reference.coef_, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X_chunked).compute(), reference.predict_proba(X), atol=1e-6)
    assert clf.decision_function(X_chunked).compute().shape == (X.shape[0],)


@pytest.mark.parametrize(("layout", "dtype"), [("csc", np.float32), ("coo", np.float64)])
def test_sparse_chunks_are_trained_on_by_the_compiled_csr_passes(layout, dtype):
    """A worker makes each sparse chunk CSR (other formats converted once) in the training dtype, and
    its chunks one ThreadedCSR, rows in order: what MaxEntClassifier's passes take."""
    from sklearn_maxent._model._softmax import ThreadedCSR
    from sklearn_maxent._options import Prior

    X, y = make_sparse_data(50, 30, 3, seed=0)
    raw = [
        maxent_dask._raw_block(X[rows].asformat(layout), y[rows], None, None, np.dtype(dtype))
        for rows in (slice(0, 20), slice(20, 50))
    ]
    assert all(r.X.format == "csr" and r.X.dtype == dtype for r in raw)
    block = maxent_dask._final_block(False, np.arange(3), None, 50.0, 0.0, Prior(None, None, None), *raw)
    assert isinstance(block.X, ThreadedCSR)
    np.testing.assert_array_equal(block.X.csr.toarray(), X.toarray().astype(dtype))
    np.testing.assert_array_equal(block.targets.argmax(axis=1), y)


def make_documents(n, seed):
    """Short documents of three topics (string labels): topic words in a shared background."""
    rng = np.random.default_rng(seed)
    topics = np.array(["sport", "music", "cooking"])
    background = [f"word{i}" for i in range(300)]
    labels = topics[rng.integers(0, topics.size, n)]
    docs = [
        " ".join([*rng.choice(background, 12), *(f"{label}{i}" for i in rng.integers(0, 40, 3))])
        for label in labels
    ]
    return docs, labels


def test_dask_ml_hashing_vectorizer_feeds_the_classifier(client):
    text = pytest.importorskip("dask_ml.feature_extraction.text")
    import dask.bag as db
    from sklearn.feature_extraction.text import HashingVectorizer

    docs, labels = make_documents(1_200, seed=23)
    vectorizer = {"n_features": 2**12, "alternate_sign": False}
    X = text.HashingVectorizer(**vectorizer).transform(db.from_sequence(docs, npartitions=4))
    assert sparse.issparse(X._meta)
    clf = DaskMaxEntClassifier(alpha=ALPHA).fit(X, labels)
    X_local = HashingVectorizer(**vectorizer).transform(docs)
    reference = MaxEntClassifier(alpha=ALPHA, solver="lbfgs", tol=1e-10).fit(X_local, labels)
    np.testing.assert_array_equal(clf.classes_, ["cooking", "music", "sport"])
    np.testing.assert_allclose(clf.predict_proba(X).compute(), reference.predict_proba(X_local), atol=1e-6)
    assert clf.score(X, labels) == pytest.approx(reference.score(X_local, labels))


def _never_computed(chunk):
    raise AssertionError("a chunk of X was computed")


def _pydata_sparse_chunks(X):
    pydata_sparse = pytest.importorskip("sparse")
    return da.from_array(pydata_sparse.COO.from_scipy_sparse(X), chunks=(100, -1))


@pytest.mark.parametrize(
    ("make_X", "match"),
    [
        (lambda X: da.from_array(np.array(["a text", "another"] * 200, dtype=object), chunks=100), "object"),
        (lambda X: da.from_array(X, chunks=(100, 10), asarray=False), r"split its columns \(3 chunks"),
        (_pydata_sparse_chunks, r"chunks are sparse\.COO"),
    ],
)
def test_chunks_other_than_numbers_or_scipy_sparse_rows_are_type_errors_that_change_nothing(
    client, make_X, match
):
    X, y = make_sparse_data(400, 30, 3, seed=24)
    clf = DaskMaxEntClassifier(alpha=ALPHA).fit(as_chunks(X, "csr", 100), y)
    before = clf.coef_.copy()
    # Every chunk raises if computed: the TypeError must come before any work.
    bad = make_X(X)
    bad = bad.map_blocks(_never_computed, meta=bad._meta, dtype=bad.dtype)
    with pytest.raises(TypeError, match=f"{match}.*numpy arrays of numbers, or scipy.sparse matrices"):
        clf.fit(bad, y)
    np.testing.assert_array_equal(clf.coef_, before)
    with pytest.raises(TypeError, match=match):
        clf.predict_proba(bad)
