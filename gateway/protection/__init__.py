"""Payload protection: CMS (RFC 5652) signatures by the gateway, encryption to subscribers."""
