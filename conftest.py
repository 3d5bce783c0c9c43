"""Collection of the package's doctests: the optional integrations are imported only when
their extra is installed, so ``pytest`` without the extras skips them instead of erroring.
(The ``test`` extra installs them all, so CI runs them.)"""

import importlib.util

OPTIONAL_MODULES = {"sklearn_maxent/dask.py": "distributed", "sklearn_maxent/onnx.py": "skl2onnx"}

collect_ignore = [path for path, needs in OPTIONAL_MODULES.items() if importlib.util.find_spec(needs) is None]
