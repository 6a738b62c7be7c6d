"""A local Etsy-like Open API v3 (OAuth 2 with PKCE, shop receipts, tracking, rate limits):
the demo's and the tests' Etsy shops (docs/architecture.md, "Sandboxes")."""
