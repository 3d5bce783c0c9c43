"""
=====================================
Class probabilities on the plane
=====================================

A three-class problem in two dimensions: :class:`~sklearn_maxent.MaxEntClassifier` assigns
each point of the plane a probability for every class. The colour is the most probable
class, its intensity that class's probability; the lines are where two classes are equally
likely. The softmax model's boundaries are straight lines, and the probabilities fall off
smoothly on either side of them, faster as the penalty ``alpha`` gets weaker.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from sklearn.datasets import make_blobs

from sklearn_maxent import MaxEntClassifier

X, y = make_blobs(n_samples=300, centers=[(-2, -1), (2, -1), (0, 2)], cluster_std=1.3, random_state=0)

xx, yy = np.meshgrid(np.linspace(-6, 6, 200), np.linspace(-5, 6, 200))
grid = np.column_stack([xx.ravel(), yy.ravel()])
colours = np.array([to_rgb(c) for c in ("tab:blue", "tab:orange", "tab:green")])

fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharey=True)
for ax, alpha in zip(axes, (1.0, 1e-3), strict=True):
    clf = MaxEntClassifier(alpha=alpha).fit(X, y)
    proba = clf.predict_proba(grid)
    # White where the model is unsure (1/3 each), the class's colour where it is certain.
    strength = ((proba.max(axis=1) - 1 / 3) / (2 / 3))[:, None]
    image = 1 - strength * (1 - colours[proba.argmax(axis=1)])
    ax.imshow(image.reshape(*xx.shape, 3), origin="lower", extent=(-6, 6, -5, 6), aspect="auto")
    ax.contour(xx, yy, proba.argmax(axis=1).reshape(xx.shape), levels=[0.5, 1.5], colors="k", linewidths=0.8)
    ax.scatter(X[:, 0], X[:, 1], c=colours[y], edgecolors="k", linewidths=0.5, s=20)
    ax.set_title(f"alpha = {alpha:g}: training accuracy {clf.score(X, y):.2f}")
    ax.set_xlabel("feature 0")
axes[0].set_ylabel("feature 1")
fig.tight_layout()
plt.show()
