"""The diagnostic checks users run with ``pytest`` against their nodes.

Each check is thin: collect (through fixtures), analyse (through ``ctdiag``), assert with a
message that states the finding, the numbers, the threshold and its source.
"""
