"""The pytest plugin (entry point ``pytest11: ctdiag``): options, hooks and fixtures that wire
the ctdiag library to the checks in :mod:`ctdiag.checks`.

Installed with ctdiag, so ``pytest --pyargs ctdiag.checks --node NAME`` works from any
directory. One module per concern, each holding only hooks and fixtures; the work lives in
the library:

- :mod:`~ctdiag.plugin.nodes`: which nodes (``--local``, ``--netns``, ``--lab``), the
  ``node`` parameter and each node's collected state;
- :mod:`~ctdiag.plugin.cluster`: cluster nodes through debug pods (``--node`` ...);
- :mod:`~ctdiag.plugin.services`: the expected Services (``--expect``, the API, the lab);
- :mod:`~ctdiag.plugin.snapshots`: ``--save-snapshot`` and ``--snapshot``;
- :mod:`~ctdiag.plugin.probes`: ``--probe``;
- :mod:`~ctdiag.plugin.verdicts`: thresholds, ``judge`` and WARN outcomes;
- :mod:`~ctdiag.plugin.report`: the HTML report, JUnit properties and ``summary.json``;
- :mod:`~ctdiag.plugin.rootdir`: ``--snapshot DIR`` with a space does not move pytest's
  rootdir.
"""

pytest_plugins = [
    "ctdiag.plugin.rootdir",
    "ctdiag.plugin.cluster",
    "ctdiag.plugin.nodes",
    "ctdiag.plugin.services",
    "ctdiag.plugin.snapshots",
    "ctdiag.plugin.probes",
    "ctdiag.plugin.verdicts",
    "ctdiag.plugin.report",
]
