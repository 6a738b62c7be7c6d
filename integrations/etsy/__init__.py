"""Etsy shops (Open API v3): OAuth 2 with PKCE, receipts by a polling sweep, tracking back.
The platform's registry entry is integrations/platforms/etsy.py; docs/etsy.md."""
