"""Test configuration.

SCIPY_ARRAY_API must be set before scipy is first imported: with it,
scikit-learn's ``check_array_api_input`` runs (with NumPy inputs, the check
for estimators without array-API support) instead of being skipped, so
``check_estimator`` runs in full.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")
