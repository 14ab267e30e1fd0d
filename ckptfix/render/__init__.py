"""Rendering only: Rich output for people (``console.py``, ``plan.py``), the ``--json`` document
(``json_doc.py``), plots (``plot.py``), value formatting (``values.py``).

The submodules are not imported here: ``rich.console`` costs ~15 ms that the ``--json`` gate never
needs (bench/), so each command imports the renderer it uses.
"""

__all__ = ["console", "json_doc", "plan", "plot", "values"]  # noqa: F822 - submodules, imported on use
