"""Kubernetes and OpenShift nodes through short-lived debug pods: the only package that
imports ``kubernetes``.

- :mod:`~ctdiag.collect.kube.access`: credentials, the REST client, the one retry policy,
  API errors mapped to ours (one line each).
- :mod:`~ctdiag.collect.kube.nodes`: which nodes, and whether each is Ready.
- :mod:`~ctdiag.collect.kube.manifests`: the debug pod and temporary namespace (pure).
- :mod:`~ctdiag.collect.kube.pods`: create, wait (one watch), delete, sweep leftovers.
- :mod:`~ctdiag.collect.kube.exec`: the exec WebSocket, frame by frame.
- :mod:`~ctdiag.collect.kube.pod_runner`: a node's commands in its pod (image, else
  ``chroot /host``).
- :mod:`~ctdiag.collect.kube.session`: one run's pods, one per node, all removed at the end.
- :mod:`~ctdiag.collect.kube.probe_targets`: where ``--probe`` may send packets, as the API
  reports (ClusterIPs, running pods, pod CIDRs).
- :mod:`~ctdiag.collect.kube.teardown`: removing them, within a deadline, one line for what
  is left.
- :mod:`~ctdiag.collect.kube.interrupts`: Ctrl-C and SIGTERM held while they are removed.
"""
