"""The Python API's parts: typed results (``results.py``, the ``--json`` data), the calls behind
``ckptfix.check`` / ``ckptfix.repair`` (``run.py``), the accelerate hook (``hook.py``).

Use them through ``ckptfix`` (``import ckptfix; ckptfix.check(...)``). The submodules are not imported
here: the ``--json`` gate needs ``results`` and ``values`` only.
"""

__all__ = ["hook", "results", "run", "values"]  # noqa: F822 - submodules, imported on use
