"""Sphinx configuration of the hear_gear_embed documentation: ``nox -s docs`` builds it with warnings as errors."""

from __future__ import annotations

import sys
from pathlib import Path

import hear_gear_embed

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "hear_gear_embed"
author = "hear_gear_embed authors"
copyright = "the hear_gear_embed authors"  # noqa: A001 (Sphinx's name for it)
release = version = hear_gear_embed.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "hge_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# Generated fragments are pulled into pages with {include}; they are not pages of their own.
exclude_patterns = ["_build", "_generated/include"]

myst_heading_anchors = 3

# One description per object, in its defining module: packages' __all__ re-exports are not documented again.
autodoc_default_options = {"members": True, "ignore-module-all": True, "show-inheritance": True,
                           # scikit-learn's metadata-routing methods of the probes, generated with its own glossary
                           "exclude-members": "set_fit_request, set_score_request"}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# Members without a docstring of their own (e.g. nn.Module.forward overrides) would show torch's text.
autodoc_inherit_docstrings = False
# Every cross-reference must resolve; hge_docs resolves re-exported and third-party names the way Python does.
nitpicky = True

napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "furo"
html_title = f"hear_gear_embed {release}"
