"""sklearn-maxent: a maximum-entropy (softmax) classifier for scikit-learn."""

from ._classifier import MaxEntClassifier

__version__ = "0.1.0"

__all__ = ["MaxEntClassifier", "__version__"]
