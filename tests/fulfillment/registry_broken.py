"""Not a provider module (no PROVIDER): the registry refuses it by name."""
