"""scikit-learn's callbacks (``sklearn.callback``): one task per optimizer step, stops on request.

The references are scikit-learn's own: the log loss of the model a step reports, recomputed by
``sklearn.metrics.log_loss`` from the fitted estimator, and the task tree its meta-estimators build.
"""

import warnings

import numpy as np
import pytest
from sklearn.callback import ProgressBar, ScoringMonitor
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_maxent import MaxEntClassifier

# Auto's SAGA phase needs 10 minibatches of 1,024 rows; at 12,000 x 10 x 3 classes the full-batch
# methods stop on the certificate (a pass costs more than PRECISE_BELOW multiply-adds).
X_LARGE, Y_LARGE = make_classification(12_000, 10, n_informative=6, n_classes=3, random_state=0)
X_LARGE = StandardScaler().fit_transform(X_LARGE)
PHASES = ["saga-epoch", "lbfgs-iter", "newton-iter"]


class Recorder:
    """A callback that records the tasks it is told of, and asks for a stop after ``stop_after`` steps."""

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.events = []
        self.models = []

    def setup(self, estimator, context):
        self.events.append(("setup", context.task_name))

    def teardown(self, estimator, context):
        self.events.append(("teardown", context.task_name))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None, fitted_estimator=None):
        self.events.append(("begin", context.task_name))

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, metadata=None, fitted_estimator=None):
        self.events.append(("end", context.task_name))
        if context.parent is None or fitted_estimator is None:
            return False
        self.models.append((fitted_estimator.coef_.copy(), fitted_estimator.intercept_.copy()))
        return self.stop_after is not None and len(self.models) >= self.stop_after


def steps_of(log):
    return [entry for entry in log.data if entry["task_name"] not in ("fit", "partial_fit")]


@pytest.mark.parametrize("solver", ["auto", "lbfgs", "saga", "sgd", "newton-cd"])
def test_scoring_monitor_logs_each_step_and_the_fit(solver):
    monitor = ScoringMonitor(scoring="neg_log_loss")
    clf = MaxEntClassifier(solver=solver, alpha=1e-3, max_iter=200, random_state=0).set_callbacks(monitor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # sgd may stall: not the point here
        clf.fit(X_LARGE, Y_LARGE)
    log = monitor.get_logs()
    steps = steps_of(log)
    assert len(steps) == clf.n_iter_
    assert len(log.data) == clf.n_iter_ + 1
    names = [entry["task_name"] for entry in steps]
    expected = {
        "auto": PHASES,
        "lbfgs": PHASES[1:],
        "saga": ["saga-epoch"],
        "sgd": ["sgd-epoch"],
        "newton-cd": ["newton-cd-iter"],
    }[solver]
    assert set(names) <= set(expected)
    assert names == sorted(names, key=expected.index)  # phases in the chain's order
    if solver == "auto":
        assert names[0] == "saga-epoch"
        assert names[-1] != "saga-epoch"
    final = -log_loss(Y_LARGE, clf.predict_proba(X_LARGE))
    assert steps[-1]["neg_log_loss"] == pytest.approx(final, rel=1e-10)
    [fit_entry] = [entry for entry in log.data if entry["task_name"] == "fit"]
    assert fit_entry["neg_log_loss"] == pytest.approx(final, rel=1e-12)


@pytest.mark.parametrize("solver", ["auto", "lbfgs", "saga", "sgd", "newton-cd"])
def test_a_callback_stops_the_fit_where_it_asks(solver):
    recorder = Recorder(stop_after=3)
    clf = MaxEntClassifier(solver=solver, alpha=1e-3, random_state=0).set_callbacks(recorder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a requested stop is no failure
        clf.fit(X_LARGE, Y_LARGE)
    assert clf.n_iter_ == 3
    coef, intercept = recorder.models[-1]
    np.testing.assert_array_equal(clf.coef_, coef)
    np.testing.assert_array_equal(clf.intercept_, intercept)


def test_tasks_begin_and_end_in_pairs_within_setup_and_teardown():
    recorder = Recorder()
    MaxEntClassifier(alpha=1e-3, random_state=0).set_callbacks(recorder).fit(X_LARGE, Y_LARGE)
    kinds = [kind for kind, _ in recorder.events]
    assert kinds[0] == "setup"
    assert kinds[-1] == "teardown"
    open_tasks = []
    for kind, name in recorder.events[1:-1]:
        if kind == "begin":
            open_tasks.append(name)
        else:
            assert open_tasks.pop() == name
    assert open_tasks == []
    assert recorder.events[1] == ("begin", "fit")
    assert recorder.events[-2] == ("end", "fit")


def test_callbacks_leave_the_model_unchanged():
    plain = MaxEntClassifier(alpha=1e-3, random_state=0).fit(X_LARGE, Y_LARGE)
    monitor = ScoringMonitor(scoring="accuracy")
    watched = (
        MaxEntClassifier(alpha=1e-3, random_state=0).set_callbacks(monitor, Recorder()).fit(X_LARGE, Y_LARGE)
    )
    np.testing.assert_array_equal(watched.coef_, plain.coef_)
    np.testing.assert_array_equal(watched.intercept_, plain.intercept_)
    assert watched.n_iter_ == plain.n_iter_


def test_partial_fit_is_one_step_per_call():
    monitor = ScoringMonitor(scoring="neg_log_loss")
    clf = MaxEntClassifier(random_state=0).set_callbacks(monitor)
    for chunk in np.array_split(np.arange(X_LARGE.shape[0]), 3):
        clf.partial_fit(X_LARGE[chunk], Y_LARGE[chunk], classes=[0, 1, 2])
        log = monitor.get_logs()
        assert [entry["task_name"] for entry in log.data] == ["partial_fit", "sgd-epoch"]
        expected = -log_loss(Y_LARGE[chunk], clf.predict_proba(X_LARGE[chunk]), labels=[0, 1, 2])
        assert log.data[1]["neg_log_loss"] == pytest.approx(expected, rel=1e-12)


def test_sample_weight_reaches_the_scorer():
    weights = np.random.default_rng(0).uniform(0.1, 2.0, X_LARGE.shape[0])
    monitor = ScoringMonitor(scoring="neg_log_loss")
    clf = MaxEntClassifier(solver="lbfgs", alpha=1e-3).set_callbacks(monitor)
    clf.fit(X_LARGE, Y_LARGE, sample_weight=weights)
    expected = -log_loss(Y_LARGE, clf.predict_proba(X_LARGE), sample_weight=weights)
    assert steps_of(monitor.get_logs())[-1]["neg_log_loss"] == pytest.approx(expected, rel=1e-10)


def test_progress_bar_in_fit_partial_fit_and_nested(capsys):
    X, y = X_LARGE[:2000], Y_LARGE[:2000]
    MaxEntClassifier().set_callbacks(ProgressBar()).fit(X, y)
    MaxEntClassifier().set_callbacks(ProgressBar()).partial_fit(X, y, classes=[0, 1, 2])
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MaxEntClassifier()), {"maxentclassifier__alpha": [1e-3, 1e-2]}, cv=2
    )
    search.set_callbacks(ProgressBar(max_propagation_depth=None)).fit(X, y)
    out = capsys.readouterr().out
    assert "MaxEntClassifier - fit" in out
    assert "MaxEntClassifier - partial_fit" in out
    # The search's fits of the pipeline's classifier, each a bar of its own.
    assert (
        "Pipeline - fit-step | MaxEntClassifier - fit" in out.replace("\n", " ")
        or out.count("MaxEntClassifier") >= 5
    )
