"""The one exception hierarchy of ctdiag.

Why one module: pytest must tell infrastructure trouble (an ERROR: node unreachable,
command failed, file missing) from findings (a FAILED check with numbers). Every error the
library raises derives from :class:`CtdiagError`, so the plugin can catch exactly ours and
turn them into one clear line, while real bugs still show their tracebacks.
"""

from __future__ import annotations


class CtdiagError(Exception):
    """Base of every error ctdiag raises on purpose."""


class ParseError(CtdiagError):
    """Text that does not follow the format it claims to be in.

    Attributes:
        line_no: 1-based line number in the input, or 0 when the error is not about one line.
        text: the offending line (or a short excerpt), kept verbatim.
        reason: what is wrong, in a few words.
    """

    def __init__(self, reason: str, *, line_no: int = 0, text: str = "") -> None:
        self.reason = reason
        self.line_no = line_no
        self.text = text
        where = f"line {line_no}: " if line_no else ""
        excerpt = f": {text[:200]!r}" if text else ""
        super().__init__(f"{where}{reason}{excerpt}")


class SnapshotError(CtdiagError):
    """A snapshot directory that is missing, incomplete or of an unknown format version."""


class CollectionError(CtdiagError):
    """A command or file read on a node failed.

    Attributes:
        node: the node (or namespace) the command ran on.
        command: the argv that failed.
    """

    def __init__(self, message: str, *, node: str, command: tuple[str, ...] = ()) -> None:
        self.node = node
        self.command = command
        cmd = f" [{' '.join(command)}]" if command else ""
        super().__init__(f"{node}: {message}{cmd}")


class ClusterError(CtdiagError):
    """The Kubernetes API, a node or a debug pod stopped a node from being reached.

    Infrastructure trouble (an ERROR of the node's checks), never a finding.

    Attributes:
        node: the node concerned, or ``""`` when the trouble is cluster-wide.
    """

    def __init__(self, message: str, *, node: str = "") -> None:
        self.node = node
        super().__init__(f"{node}: {message}" if node else message)


class ApiError(ClusterError):
    """The API server refused or failed a request (kopf-style: mapped from ApiException).

    Attributes:
        status: the HTTP status (0 when no answer came: connection refused, timeout).
        reason: the Status reason (``Forbidden``, ``NotFound``, ``InternalError`` ...).
    """

    def __init__(self, message: str, *, status: int, reason: str = "", node: str = "") -> None:
        self.status = status
        self.reason = reason
        super().__init__(message, node=node)


class ForbiddenError(ApiError):
    """403: RBAC, a missing SecurityContextConstraint, or Pod Security admission."""


class NotFoundError(ApiError):
    """404: the object (or node) does not exist."""


class DebugPodError(ClusterError):
    """A debug pod could not be started (image pull, never scheduled, failed, deadline)."""


class ProbeTargetError(CtdiagError):
    """A probe aimed at an address that is not a Service or pod address of the cluster.

    Raised before anything is sent; the message is one line naming the address.
    """


class LabError(CtdiagError):
    """The real-kernel lab (ctdiag.lab) could not be built, changed or torn down.

    Not a finding about conntrack: trouble with the lab's own namespaces, rules or processes.
    """


class QueryError(CtdiagError):
    """A conntrack query whose options are invalid or contradict each other (a usage error).

    Raised before anything runs on a node; the message is one line naming the option.
    """


class ExpectationError(CtdiagError):
    """Expected Services that cannot be read: an ``--expect`` file or Service objects.

    The message is one line: the file (or object), the path inside it
    (``services[2].ports[0].protocol``) and what is wrong there.
    """
