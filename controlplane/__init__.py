"""controlplane: multi-tenant control plane and OAuth 2.0 authorization server."""

from controlplane.app import create_app

__all__ = ["create_app"]
