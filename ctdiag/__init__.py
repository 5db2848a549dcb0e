"""ctdiag: connection-tracking diagnostics for Kubernetes and OpenShift nodes."""

from __future__ import annotations

__version__ = "0.1.0"
