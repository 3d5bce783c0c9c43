"""The API reference (doc/api.rst) lists every public name, so a new one cannot go undocumented."""

import importlib
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[1] / "doc" / "api.rst"
if not API.exists():
    pytest.skip("doc/ is in the source checkout only", allow_module_level=True)

# The public modules and the extra each needs (None: the package's own dependencies).
MODULES = {"sklearn_maxent": None, "sklearn_maxent.dask": "distributed", "sklearn_maxent.onnx": "skl2onnx"}


def documented_names():
    """Fully qualified names of the autosummary entries, under their ``currentmodule``."""
    names, module = set(), None
    for line in API.read_text().splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            module = match[1]
        elif module and re.fullmatch(r"   [A-Za-z_]\w*", line):
            names.add(f"{module}.{line.strip()}")
    return names


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_name_is_in_the_api_reference(module_name):
    if MODULES[module_name]:
        pytest.importorskip(MODULES[module_name])
    module = importlib.import_module(module_name)
    public = {f"{module_name}.{name}" for name in module.__all__ if not name.startswith("__")}
    assert public <= documented_names(), f"missing from doc/api.rst: {sorted(public - documented_names())}"
