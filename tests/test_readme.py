"""Every Python code block of the README and of the documentation's pages runs.

The pages are read from the checkout; against an installed package away from it (the wheel
check of ``.ci/run``) there is nothing to read, and the tests skip.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "doc").rglob("*.md")])
PAGES = [page for page in PAGES if page.exists() and "_build" not in page.parts]
if not PAGES:
    pytest.skip("the README and doc/ are in the source checkout only", allow_module_level=True)

BLOCKS = [
    (page, block)
    for page in PAGES
    for block in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)
]


def test_readme_has_python_examples():
    assert any(page.name == "README.md" for page, _ in BLOCKS)


@pytest.mark.parametrize(
    ("page", "block"),
    BLOCKS,
    ids=[f"{page.relative_to(ROOT)}-block{i}" for i, (page, _) in enumerate(BLOCKS)],
)
def test_block_runs(page, block):
    exec(compile(block, str(page), "exec"), {"__name__": "readme"})
