"""The Python API's parts: typed results (``results.py``, the ``--json`` data), the command to run next
(``next_steps.py``), the calls behind ``ckptfix.check`` / ``ckptfix.repair`` (``run.py``), the accelerate
hook (``hook.py``), the JSON Schema of the results (``schema.py``).

Use them through ``ckptfix`` (``import ckptfix; ckptfix.check(...)``). The submodules are not imported
here: the ``--json`` gate needs ``results``, ``next_steps`` and ``values`` only.
"""

__all__ = ["fields", "hook", "next_steps", "restore_results", "results", "run", "schema", "values"]  # noqa: F822 - submodules, imported on use
