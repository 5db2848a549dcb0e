"""The Services whose DNAT the Service checks verify, and their parametrisation per port.

Where they come from, decided at configure time (so checks can be parametrised per Service
port, ``test_stale_dnat[ovn-worker-default/kube-dns:53/udp]``):

- ``--expect FILE`` (YAML, :mod:`ctdiag.parse.expect_file`): for ``--local``, ``--netns`` and
  ``--snapshot`` runs, and overriding the API or the lab anywhere else;
- on a cluster (``--node``, ``--all-nodes``, ``--node-selector``): every Service and
  EndpointSlice listed from the API (ready endpoints only), once per run;
- ``--lab``: the lab's own (:mod:`ctdiag.lab.expectations`), no API call; checks judge
  against the lab's state once its scenarios are on (an endpoint ``stale_udp`` removed is
  no longer expected, as it would no longer be listed on a cluster).

``--save-snapshot DIR`` saves the Services judged against beside the nodes
(``DIR/expected-services.json``) and ``--snapshot=DIR`` judges against them again, so a saved
run gives the same verdicts offline (``--expect`` overrides them there too). Without any,
each Service check of a node is one SKIPPED case saying how to give them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ctdiag.errors import CtdiagError
from ctdiag.lab.expectations import lab_expected_services, planned_lab_services
from ctdiag.lab.state import load_state
from ctdiag.lab.topology import default_lab
from ctdiag.model.outputs import OutputName
from ctdiag.model.services import ExpectedService, ExpectedServicePort, expected_ports
from ctdiag.plugin.cluster import WORKER_DATA, access_options, wants_cluster

if TYPE_CHECKING:  # the readers and the flow index are imported by a run that needs them
    from ctdiag.analyze.node_state import NodeState
    from ctdiag.analyze.service_flows import ServiceFlows
    from ctdiag.lab.apiserver.server import LabApiServer

#: The argument Service checks take to be parametrised per Service port.
SERVICE_PORT = "service_port"
NO_SERVICES = "no expected Services: give --expect FILE"
#: Where ``--save-snapshot DIR`` keeps the Services the run judged against.
SAVED_SERVICES = "expected-services.json"
LAB_SOURCE = "the lab"
WORKER_SERVICES = "ctdiag_services"
WORKER_SOURCE = "ctdiag_services_source"


@dataclass(frozen=True, slots=True)
class ServiceExpectations:
    """The run's expected Services.

    Attributes:
        services: the Services, in order (their ports are the test parameters).
        source: where they come from, for messages (``--expect lab.yaml``).
        from_lab_state: judge against the lab's Services as its scenarios left them.
    """

    services: tuple[ExpectedService, ...]
    source: str
    from_lab_state: bool = False

    @property
    def missing(self) -> str:
        """Why the Service checks skip when there are no Services."""
        if self.source:
            return f"no expected Services: {self.source} lists no Service with a ClusterIP"
        return NO_SERVICES


EXPECTATIONS = pytest.StashKey[ServiceExpectations]()
JUDGED = pytest.StashKey[tuple[ExpectedService, ...]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ctdiag-services", "ctdiag: Service DNAT checks")
    group.addoption("--expect", metavar="FILE", dest="ctdiag_expect",
                    help="the Services whose DNAT to verify (YAML, see README), for --local, "
                         "--netns and --snapshot runs; overrides the API's (clusters) and the "
                         "lab's")  # fmt: skip


def _expectations(config: pytest.Config) -> ServiceExpectations:
    workerinput = getattr(config, "workerinput", {})
    if WORKER_SERVICES in workerinput:  # an xdist worker: the controller's, listed once
        from ctdiag.parse.services import services_from_json

        return ServiceExpectations(
            services_from_json(workerinput[WORKER_SERVICES], "the controller"),
            workerinput[WORKER_SOURCE], workerinput[WORKER_SOURCE] == LAB_SOURCE,
        )  # fmt: skip
    opt = config.option
    if opt.ctdiag_expect is not None:
        from ctdiag.parse.expect_file import load_expectations

        path = Path(opt.ctdiag_expect)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CtdiagError(f"--expect {path}: cannot read: {exc}") from None
        return ServiceExpectations(load_expectations(text, str(path)), f"--expect {path}")
    saved = Path(opt.snapshot) / SAVED_SERVICES if opt.snapshot is not None else None
    if saved is not None and saved.is_file():
        from ctdiag.parse.services import services_from_json

        try:
            text = saved.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CtdiagError(f"{saved}: cannot read: {exc}") from None
        return ServiceExpectations(services_from_json(text, str(saved)),
                                   f"the run saved in {opt.snapshot}")  # fmt: skip
    if opt.lab:
        return ServiceExpectations(
            planned_lab_services(default_lab(), opt.lab_scenario), LAB_SOURCE, from_lab_state=True
        )
    if wants_cluster(config):
        from ctdiag.collect.kube.access import connect
        from ctdiag.collect.kube.services import list_expected_services

        cluster = connect(access_options(config))
        try:
            services = list_expected_services(cluster)
        except CtdiagError as exc:
            raise CtdiagError(f"cannot list the expected Services: {exc}") from None
        finally:
            cluster.close()
        return ServiceExpectations(services, f"the API of {cluster.where}")
    return ServiceExpectations((), "")


# After ctdiag.plugin.nodes has checked the node options (a bad combination is its error first).
@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    try:
        expectations = config.stash[EXPECTATIONS] = _expectations(config)
    except CtdiagError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not hasattr(config, "workerinput") and expectations.source:
        from ctdiag.parse.services import services_to_json

        config.stash.setdefault(WORKER_DATA, {}).update({
            WORKER_SERVICES: services_to_json(expectations.services),
            WORKER_SOURCE: expectations.source,
        })  # fmt: skip


# Last, so the node comes first in test ids (NODE-namespace/name:port/proto).
@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if SERVICE_PORT not in metafunc.fixturenames:
        return
    ports = expected_ports(metafunc.config.stash[EXPECTATIONS].services)
    if ports:
        metafunc.parametrize(SERVICE_PORT, ports, ids=[p.id for p in ports])
    else:
        # Skipped by service_flows once the node is read: an unreachable node stays an ERROR.
        metafunc.parametrize(SERVICE_PORT, [None], ids=["no-services"])


@pytest.fixture(scope="session")
def expected_services(
    request: pytest.FixtureRequest, lab_environment: LabApiServer | None
) -> tuple[ExpectedService, ...]:
    """The Services the checks judge against (the lab's as its scenarios left them)."""
    expectations = request.config.stash[EXPECTATIONS]
    judged = expectations.services
    if expectations.from_lab_state and lab_environment is not None:
        judged = lab_expected_services(default_lab(), load_state())
    request.config.stash[JUDGED] = judged
    return judged


@pytest.fixture
def service_flows(
    request: pytest.FixtureRequest,
    service_port: ExpectedServicePort | None,
    node_state: NodeState,
    expected_services: tuple[ExpectedService, ...],
) -> ServiceFlows:
    """The node's entries towards the expected Services, indexed once per node; skips where
    nf_conntrack never sees Service NAT (Cilium's kube-proxy replacement)."""
    from ctdiag.assess.service_proxy import link_names, service_nat_in_conntrack

    if service_port is None:
        pytest.skip(request.config.stash[EXPECTATIONS].missing)
    flows = node_state.service_flows(expected_services)
    links = link_names(node_state.snapshot.text_if_ok(OutputName.LINKS))
    applies, why = service_nat_in_conntrack(links, flows.translated > 0)
    if not applies:
        pytest.skip(why)
    if service_port.id not in flows.positions:
        pytest.skip(f"{service_port.id} is no longer an expected Service port")
    return flows


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    directory = config.option.save_snapshot
    judged = config.stash.get(JUDGED, None)
    if directory is None or not judged or hasattr(config, "workerinput"):
        return
    from ctdiag.parse.services import services_to_json

    (Path(directory) / SAVED_SERVICES).write_text(services_to_json(judged), encoding="utf-8")
