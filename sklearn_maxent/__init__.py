"""sklearn-maxent: a maximum-entropy (softmax) classifier for scikit-learn."""

from ._classifier import MaxEntClassifier
from ._cv import MaxEntClassifierCV

__version__ = "0.2.0.dev0"  # as in meson.build

__all__ = ["MaxEntClassifier", "MaxEntClassifierCV", "__version__"]
