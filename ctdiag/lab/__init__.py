"""A real-kernel lab: a Kubernetes-like node made of network namespaces.

Every resource carries the prefix ``ctdlab-`` (:data:`ctdiag.lab.netns.PREFIX`).
:func:`ctdiag.lab.lifecycle.up` builds the node, its pods and Services wired the way
kube-proxy's iptables mode does; :func:`ctdiag.lab.lifecycle.down` removes everything, also
after a crash; :data:`ctdiag.lab.scenarios.SCENARIOS` switches on problems the checks must
catch. :mod:`ctdiag.lab.apiserver` serves the lab as a Kubernetes API (the only importer of
``aiohttp``).
"""
