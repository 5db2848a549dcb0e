"""The objects ctdiag creates on a cluster, as plain manifests: pure, no API calls.

The debug pod is at parity with ``oc debug node`` and ``kubectl debug node --profile
sysadmin`` (privileged, host network, PID and IPC namespaces, the host's ``/`` at ``/host``,
pinned with ``nodeName``, tolerating every taint, never restarted), plus what both lack: an
``activeDeadlineSeconds`` so a pod whose creator was killed still ends, and labels to find
and sweep every pod and namespace of a run (``python -m ctdiag cleanup``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

#: Every object ctdiag creates carries this label (the key kubectl debug uses, our value).
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "ctdiag"
#: The run an object belongs to: one run's pods are watched and removed together.
RUN_LABEL = "ctdiag.io/run-id"
NODE_LABEL = "ctdiag.io/node"
DEFAULT_IMAGE = "registry.redhat.io/rhel9/support-tools"
#: A pod outlives a killed run by at most this long (then the kubelet stops it).
DEFAULT_DEADLINE_S = 3600
CONTAINER = "debug"
#: What the container runs: nothing but waiting, bounded by the deadline too.
_SLEEP_ARGV = ("sleep", str(DEFAULT_DEADLINE_S + 60))
_LABEL_VALUE = re.compile(r"[^a-z0-9.-]+")

#: The labels a temporary namespace needs for privileged pods (oc debug's set): Pod Security
#: admission and OpenShift's label sync, plus an empty project node selector, without which
#: a project default selector conflicts with ``nodeName`` (the pod fails: NodeAffinity).
NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/audit": "privileged",
    "pod-security.kubernetes.io/warn": "privileged",
    "security.openshift.io/scc.podSecurityLabelSync": "false",
}
NAMESPACE_ANNOTATIONS = {"openshift.io/node-selector": ""}


def new_run_id() -> str:
    """A short random id naming one run's objects (lowercase, valid in names and labels)."""
    return secrets.token_hex(4)


def managed_selector(run_id: str | None = None) -> str:
    """The label selector of everything ctdiag made (of one run when ``run_id`` is given)."""
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
    return f"{selector},{RUN_LABEL}={run_id}" if run_id else selector


def _labels(run_id: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: run_id}


def label_value(text: str) -> str:
    """``text`` as a valid label value (at most 63 characters, alphanumeric at both ends)."""
    value = _LABEL_VALUE.sub("-", text.lower()).strip(".-")[:63].strip(".-")
    return value or "x"


def debug_pod_name(node: str, run_id: str) -> str:
    """``ctdiag-<node>-<run>``: a valid DNS label (it becomes the pod's host name) that
    stays unique when long node names are cut, thanks to a hash of the full name."""
    digest = hashlib.sha256(node.encode()).hexdigest()[:6]
    base = label_value(node.replace(".", "-"))[: 63 - len("ctdiag---") - 6 - len(run_id)]
    return f"ctdiag-{base.strip('-')}-{digest}-{run_id}"


@dataclass(frozen=True, slots=True)
class DebugPodSpec:
    """What to start on a node.

    Attributes:
        node: the node's name (``spec.nodeName``).
        namespace: where the pod is created.
        image: the container image (conntrack CLI optional: the host's is used otherwise).
        run_id: the run the pod belongs to.
        deadline_s: ``activeDeadlineSeconds``.
    """

    node: str
    namespace: str
    image: str = DEFAULT_IMAGE
    run_id: str = ""
    deadline_s: int = DEFAULT_DEADLINE_S

    @property
    def name(self) -> str:
        return debug_pod_name(self.node, self.run_id)


def debug_pod_manifest(spec: DebugPodSpec) -> dict[str, Any]:
    """The pod, as ``oc debug node/NODE`` would create it, plus deadline and labels."""
    labels = {**_labels(spec.run_id), NODE_LABEL: label_value(spec.node)}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": labels,
            # OpenShift: ask for the privileged SCC by name instead of the first that fits.
            "annotations": {"openshift.io/required-scc": "privileged"},
        },
        "spec": {
            "nodeName": spec.node,
            "hostNetwork": True,
            "hostPID": True,
            "hostIPC": True,
            "restartPolicy": "Never",
            "activeDeadlineSeconds": spec.deadline_s,
            "terminationGracePeriodSeconds": 0,
            "enableServiceLinks": False,
            "automountServiceAccountToken": False,
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": CONTAINER,
                    "image": spec.image,
                    "command": list(_SLEEP_ARGV),
                    "env": [{"name": "HOST", "value": "/host"}],
                    "securityContext": {"privileged": True, "runAsUser": 0},
                    "stdin": False,
                    "tty": False,
                    "volumeMounts": [{"name": "host", "mountPath": "/host"}],
                }
            ],
            "volumes": [{"name": "host", "hostPath": {"path": "/", "type": "Directory"}}],
        },
    }


def namespace_name(run_id: str, worker: str = "") -> str:
    """The run's temporary namespace (one per xdist worker): fixed by the run id, so a create
    retried after a 5xx finds its own namespace (409) instead of making a second one."""
    return f"ctdiag-{run_id}-{label_value(worker)}" if worker else f"ctdiag-{run_id}"


def namespace_manifest(run_id: str, worker: str = "") -> dict[str, Any]:
    """A temporary namespace for one run's pods (of one xdist worker when ``worker``)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace_name(run_id, worker),
            "labels": {**_labels(run_id), **NAMESPACE_LABELS},
            "annotations": dict(NAMESPACE_ANNOTATIONS),
        },
    }
