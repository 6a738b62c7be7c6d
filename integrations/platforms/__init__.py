"""Store platforms: one module per kind of store PodHub takes orders from.

Each module declares `PLATFORM = <a StorePlatform>` (base.py: the interface);
`settings.PODHUB_STORE_PLATFORMS` lists the modules, one line each, and registry.py
builds the registry the generic services ask (`registry.platform_for(connection)`).
docs/architecture.md, "Adding a store platform: one module, one line".
"""
