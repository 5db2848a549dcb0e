"""Collection, the edge that touches nodes: run commands and keep their raw outputs.

- :mod:`~ctdiag.collect.plan`: what to run (pure, shared by every way of reaching a node).
- :mod:`~ctdiag.collect.runners`: commands here or in a network namespace;
  :mod:`~ctdiag.collect.kube`: in a node's debug pod (the only importer of ``kubernetes``).
- :mod:`~ctdiag.collect.collector`: a runner driven through the plan into a sample;
  :mod:`~ctdiag.collect.streaming`: the flow listing parsed while it is being read.
- :mod:`~ctdiag.collect.node_targets`: which nodes a run checks and how each is reached;
  :mod:`~ctdiag.collect.scheduler`: many nodes at once.
- :mod:`~ctdiag.collect.query`: one ``ctdiag conntrack`` query, validated, as argv.
- :mod:`~ctdiag.collect.store`: the snapshot and run-directory formats on disk.
"""
