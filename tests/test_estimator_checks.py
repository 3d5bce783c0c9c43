"""scikit-learn's full estimator battery, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_maxent import MaxEntClassifier, MaxEntClassifierCV

CONFIGURATIONS = [
    MaxEntClassifier(),
    MaxEntClassifier(batch_size=1),
    MaxEntClassifier(l1_ratio=0.5),
    MaxEntClassifier(class_weight="balanced"),
    MaxEntClassifier(solver="lbfgs"),
    MaxEntClassifier(alpha=0.1, batch_size=3, learning_rate="invscaling"),
    MaxEntClassifierCV(),
    # An L1 grid 1e-2 deep: at 1e-4 of alpha_max, L1 fits on the checks' 15-row, 30-feature data
    # stall far from the optimum (certified gaps of 0.5 and more), cold fits of MaxEntClassifier too.
    MaxEntClassifierCV(alphas=[1e-1, 1e-2, 1e-3], l1_ratios=[0.5, 1.0], cv=3),
]


@parametrize_with_checks(CONFIGURATIONS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
