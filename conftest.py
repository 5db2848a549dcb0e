"""The front door of a clone: ``pytest`` here runs the checks of ``checks/``.

Nothing is wired here: the options, hooks and fixtures are the pytest plugin
:mod:`ctdiag.plugin` (``ctdiag/plugin/``; the ``pytest11`` entry point loads it wherever
ctdiag is installed), the checks are :mod:`ctdiag.checks`, and ``fixtures/README.md`` says
which module holds which fixture. The project's own tests and their policy live in
``tests/`` (``tests/conftest.py``).
"""
