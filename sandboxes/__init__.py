"""The simulators: local, protocol-faithful imitations of the services PodHub speaks to,
one package per service (docs/architecture.md, "Sandboxes"):

- `shopify/`: a Shopify store (Admin GraphQL, OAuth, signed webhooks),
- `woocommerce/`: a WooCommerce store (REST v3, signed webhooks),
- `stripe/`: Stripe Checkout and its webhooks (`python -m sandboxes.stripe`),
- `factory/`: the sandbox factory (`manage.py run_sandbox_factory`),
- `providers/`: Printful, CustomCat, Gelato, ShineOn and Printify stand-ins
  (`manage.py run_provider_standin`).

`make run`, the tests, the benchmarks and the fault drill start them. The product apps
never import this package (the `simulators-apart` contract in pyproject.toml); a
provider names its stand-in by a "module:Class" string in its registry entry.
"""
