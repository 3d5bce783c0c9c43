"""
=========================================
Regularization path of an L1 model
=========================================

The weights of :class:`~sklearn_maxent.MaxEntClassifier` with a pure L1 penalty
(``l1_ratio=1``) on the standardized wine data, as the penalty ``alpha`` weakens: features
enter the model one by one. Each fit starts from the previous one's weights
(``warm_start=True``), so the whole path of 30 fits takes about as long as a few cold fits.
Each curve is one class's weight of one feature; features are coloured alike.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler

from sklearn_maxent import MaxEntClassifier

data = load_wine()
X, y = StandardScaler().fit_transform(data.data), data.target

alphas = np.logspace(0, -3, 30)  # strong to weak: the path starts from an all-zero model
clf = MaxEntClassifier(l1_ratio=1, warm_start=True, random_state=0)
coefs, nonzero = [], []
for alpha in alphas:
    clf.set_params(alpha=alpha).fit(X, y)
    coefs.append(clf.coef_.copy())
    nonzero.append(np.count_nonzero(clf.coef_))
coefs = np.array(coefs)  # (n_alphas, n_classes, n_features)

fig, (ax, ax_count) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True, height_ratios=(3, 1))
colours = plt.cm.tab20(np.arange(X.shape[1]))
for j, colour in enumerate(colours):
    for k in range(coefs.shape[1]):
        ax.plot(alphas, coefs[:, k, j], color=colour, label=data.feature_names[j] if k == 0 else None)
ax.set_xscale("log")
ax.invert_xaxis()
ax.set_ylabel("weight")
ax.set_title("L1 path on wine: 3 classes x 13 features")
ax.legend(fontsize=7, ncol=2, loc="upper left")
ax_count.plot(alphas, nonzero, "k.-")
ax_count.set_xlabel("alpha (weaker to the right)")
ax_count.set_ylabel("non-zero weights")
fig.tight_layout()
plt.show()
