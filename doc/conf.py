"""Sphinx configuration of the sklearn-maxent documentation.

Build it with ``sphinx-build -W --keep-going doc doc/_build/html`` (after
``pip install ".[doc]"``); the layout follows scikit-learn-contrib's project-template.
"""

import re
from importlib.metadata import version as installed_version

project = "sklearn-maxent"
author = "sklearn-maxent developers"
copyright = "2026, sklearn-maxent developers"
release = installed_version("sklearn-maxent")
version = release

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",  # the docstrings' .. math:: blocks
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build"]
# No intersphinx: the build runs offline, and a failed inventory fetch is a warning (-W fails).

# API reference: one page per public name, generated from the docstrings (numpydoc format).
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
# The class template documents every method in full (autoclass :members:); numpydoc's table would repeat them.
numpydoc_show_class_members = False
# A parameter without its entry in the docstring (PR01), or documented but not a parameter
# (PR02), fails the build under -W: every public parameter is documented.
numpydoc_validation_checks = {"PR01", "PR02"}

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-maxent {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False

# The gallery: examples/plot_*.py run at every build (a few seconds each); one that raises fails it.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("sklearn_maxent",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"sklearn_maxent": None},
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
}

# Methods inherited from scikit-learn link to its user guide and glossary (:ref:, :term:),
# which an offline build cannot resolve: they keep the words and lose the link.
_SKLEARN_ROLE = re.compile(r":(?:ref|term):`(?:([^`<]*?)\s*<[^`>]*>|([^`]*))`")


def _unlink_sklearn_roles(app, what, name, obj, options, lines):
    if getattr(obj, "__module__", "").startswith("sklearn."):
        lines[:] = [_SKLEARN_ROLE.sub(lambda m: m.group(1) or m.group(2), line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _unlink_sklearn_roles)
