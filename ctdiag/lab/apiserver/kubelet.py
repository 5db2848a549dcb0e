"""The simulated scheduler and kubelet: binds pods, pulls images, starts and fails them.

A pod bound to a missing or NotReady node stays Pending, as on a real cluster; a node that
turns Ready starts the pods waiting for it. Every transition is a store update, hence a
new resourceVersion and a MODIFIED watch event.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ctdiag.lab.apiserver import images
from ctdiag.lab.apiserver.objects import Obj, container_id, now
from ctdiag.lab.apiserver.state import ApiState

#: Seconds between ErrImagePull and ImagePullBackOff.
BACKOFF_AFTER_S = 1.0
_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")


def _condition(kind: str, status: bool, reason: str = "", message: str = "") -> Obj:
    condition: Obj = {
        "type": kind,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now(),
    }
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def schedule(state: ApiState, pod: Obj) -> None:
    """Bind a pod without ``nodeName`` to the first Ready node its nodeSelector allows."""
    spec = pod["spec"]
    if spec.get("nodeName"):
        return
    wanted = spec.get("nodeSelector") or {}
    for node in state.nodes.values():
        labels = node.all_labels()
        if node.ready and all(labels.get(k) == v for k, v in wanted.items()):
            spec["nodeName"] = node.name
            return
    total = len(state.nodes)
    pod["status"]["conditions"] = [
        _condition(
            "PodScheduled",
            False,
            "Unschedulable",
            f"0/{total} nodes are available: {total} node(s) didn't match Pod's node "
            "affinity/selector or were not ready.",
        )
    ]


def _containers(pod: Obj) -> list[Obj]:
    containers: list[Obj] = pod["spec"].get("containers") or []
    return containers


def _waiting(pod: Obj, reason: str, message: str = "") -> list[Obj]:
    state: Obj = {"reason": reason}
    if message:
        state["message"] = message
    return [
        {
            "name": c["name"],
            "image": c.get("image", ""),
            "imageID": "",
            "ready": False,
            "started": False,
            "restartCount": 0,
            "state": {"waiting": state},
            "lastState": {},
        }
        for c in _containers(pod)
    ]


class PodKubelet:
    """The kubelet's work for one pod (identified by namespace, name and uid)."""

    def __init__(self, state: ApiState, pod: Obj) -> None:
        self._state = state
        meta = pod["metadata"]
        self._namespace: str = meta["namespace"]
        self._name: str = meta["name"]
        self._uid: str = meta["uid"]

    def _update(self, change: Any) -> Obj | None:
        """Apply ``change`` to the pod's status if it is still this pod and not deleting."""
        current = self._state.store.get("pods", self._namespace, self._name)
        if current is None or current["metadata"]["uid"] != self._uid:
            return None
        if current["metadata"].get("deletionTimestamp"):
            return None
        return self._state.store.update("pods", self._namespace, self._name, change)

    async def run(self) -> None:
        """Accept the pod, enforce its deadline, pull its images, start it."""
        pod = self._state.store.get("pods", self._namespace, self._name)
        if pod is None or self._state.faults.pods_never_start:
            return
        node = self._state.nodes.get(pod["spec"].get("nodeName", ""))
        if node is None or not node.ready or pod["status"].get("startTime"):
            return
        started = now()

        def accept(obj: Obj) -> None:
            status = obj["status"]
            status.update(hostIP=node.ip, hostIPs=[{"ip": node.ip}], startTime=started)
            status.update(podIP=node.ip, podIPs=[{"ip": node.ip}])
            status["conditions"] = [
                _condition("PodScheduled", True),
                *(_condition(k, k == "Initialized", "ContainersNotReady"
                             if k in {"Ready", "ContainersReady"} else "")
                  for k in _CONDITIONS),
            ]
            status["containerStatuses"] = _waiting(obj, "ContainerCreating")

        if self._update(accept) is None:
            return
        deadline = pod["spec"].get("activeDeadlineSeconds")
        if deadline is not None:
            self._state.spawn(self._enforce_deadline(float(deadline)))
        await asyncio.sleep(self._state.faults.pod_start_latency_s)
        failed = [
            c for c in _containers(pod)
            if self._state.faults.image_pull_failure or images.find_image(c["image"]) is None
        ]
        if failed:
            await self._fail_pull(failed[0]["image"])
            return
        self._update(self._running)

    async def _fail_pull(self, image: str) -> None:
        if images.find_image(image) is None:
            message = images.pull_error(image)
        else:
            message = (
                f'Failed to pull image "{image}": rpc error: code = Unknown desc = pinging '
                f"container registry: dial tcp: lookup registry: no such host"
            )

        def pull_failed(reason: str, text: str) -> Any:
            def change(obj: Obj) -> None:
                obj["status"]["containerStatuses"] = _waiting(obj, reason, text)

            return change

        if self._update(pull_failed("ErrImagePull", message)) is None:
            return
        await asyncio.sleep(BACKOFF_AFTER_S)
        self._update(pull_failed("ImagePullBackOff", f'Back-off pulling image "{image}"'))

    @staticmethod
    def _running(obj: Obj) -> None:
        started = now()
        status = obj["status"]
        status["phase"] = "Running"
        status["conditions"] = [_condition("PodScheduled", True)] + [
            _condition(k, True) for k in _CONDITIONS
        ]
        status["containerStatuses"] = [
            {
                "name": c["name"],
                "image": c["image"],
                "imageID": images.image_id(c["image"]),
                "containerID": container_id(),
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": started}},
                "lastState": {},
            }
            for c in _containers(obj)
        ]

    async def _enforce_deadline(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

        def fail(obj: Obj) -> None:
            finished = now()
            status = obj["status"]
            status.update(
                phase="Failed",
                reason="DeadlineExceeded",
                message="Pod was active on the node longer than the specified deadline",
            )
            for condition in status.get("conditions", []):
                if condition["type"] in {"Ready", "ContainersReady"}:
                    condition.update(
                        status="False", reason="PodFailed", lastTransitionTime=finished
                    )
            for container in status.get("containerStatuses", []):
                running = container["state"].get("running", {})
                container["ready"] = False
                container["started"] = False
                container["state"] = {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "Error",
                        "startedAt": running.get("startedAt", finished),
                        "finishedAt": finished,
                        **({"containerID": container["containerID"]}
                           if "containerID" in container else {}),
                    }
                }

        current = self._state.store.get("pods", self._namespace, self._name)
        if current is None or current["status"].get("phase") in {"Succeeded", "Failed"}:
            return
        if self._update(fail) is not None:
            self._state.kill_execs((self._namespace, self._name))


def start_pod(state: ApiState, pod: Obj) -> None:
    """Hand a freshly stored pod to its kubelet."""
    state.spawn(PodKubelet(state, pod).run())


def start_waiting_pods(state: ApiState, node_name: str) -> None:
    """Start the pods bound to ``node_name`` that no kubelet accepted yet (it was not Ready)."""
    items, _ = state.store.objects("pods")
    for pod in items:
        status = pod.get("status", {})
        if (
            pod["spec"].get("nodeName") == node_name
            and status.get("phase") == "Pending"
            and not status.get("startTime")
            and not pod["metadata"].get("deletionTimestamp")
        ):
            start_pod(state, pod)
