"""The token service of SPEC §2: ``/connect/token``, discovery metadata and the JWKS."""
