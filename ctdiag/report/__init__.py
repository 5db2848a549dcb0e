"""The HTML report's content and summary.json: pure, data in, HTML and JSON text out.

``ctdiag/plugin/report.py`` wires these into pytest-html; nothing here touches pytest or files.
"""
