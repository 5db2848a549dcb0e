"""What scenarios changed, kept in the lab's state directory so another process can revert it.

``ctdiag lab scenario X`` and ``ctdiag lab scenario X --stop`` run in different processes:
the Service rules are always re-rendered from the topology plus this state, the way
kube-proxy re-renders from the API's current view.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ctdiag.errors import LabError
from ctdiag.lab import rules
from ctdiag.lab.netns import STATE_DIR
from ctdiag.lab.topology import LabNode, LabService, blackhole_service, blackhole_udp_service

STATE_FILE = STATE_DIR / "state.json"


@dataclass(frozen=True, slots=True)
class LabState:
    """Changes scenarios made to the lab.

    Attributes:
        active: names of active scenarios.
        removed_endpoints: ``service/pod`` pairs taken out of their Service.
        missing_portals: Services whose ClusterIP rule was removed.
        blackhole: the blackhole Services are installed.
        saved_sysctls: ``(name, value)`` pairs to restore on revert.
    """

    active: tuple[str, ...] = ()
    removed_endpoints: tuple[str, ...] = ()
    missing_portals: tuple[str, ...] = ()
    blackhole: bool = False
    saved_sysctls: tuple[tuple[str, str], ...] = ()

    def with_active(self, name: str, on: bool) -> LabState:
        names = [n for n in self.active if n != name] + ([name] if on else [])
        return replace(self, active=tuple(names))


def load_state(path: Path = STATE_FILE) -> LabState:
    """The saved state, or an empty one when the lab has none yet."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return LabState()
    except (OSError, ValueError) as exc:
        raise LabError(f"unreadable lab state {path}: {exc}") from exc
    return LabState(
        active=tuple(raw.get("active", ())),
        removed_endpoints=tuple(raw.get("removed_endpoints", ())),
        missing_portals=tuple(raw.get("missing_portals", ())),
        blackhole=bool(raw.get("blackhole", False)),
        saved_sysctls=tuple((str(k), str(v)) for k, v in raw.get("saved_sysctls", ())),
    )


def save_state(state: LabState, path: Path = STATE_FILE) -> None:
    """Write ``state`` atomically (rename over the old file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=1))
    tmp.replace(path)


def effective_services(node: LabNode, state: LabState) -> tuple[LabService, ...]:
    """The Service ports kube-proxy would program now: topology minus removed endpoints."""
    gone = set(state.removed_endpoints)
    services = [
        replace(svc, endpoints=tuple(e for e in svc.endpoints if f"{svc.name}/{e.pod}" not in gone))
        for svc in node.services
    ]
    if state.blackhole:
        services += [blackhole_service(node), blackhole_udp_service(node)]
    return tuple(services)


def sync_rules(node: LabNode, state: LabState) -> None:
    """Program the node's rules for ``state`` (one ``iptables-restore`` transaction)."""
    rules.apply(node, effective_services(node, state), without_portal=state.missing_portals)
