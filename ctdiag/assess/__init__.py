"""Judgements: parsed node state and thresholds in, :class:`~ctdiag.model.verdict.Verdict` out.

Pure functions, one module per theme; the checks in ``checks/`` call them.
"""
