"""The sandbox factory: a local print factory that speaks the PodHub provider
protocol over HTTP (see factory.py for the API), moves orders through
production on a compressed clock and calls back with signed status and tracking.

Run it with `python manage.py run_sandbox_factory`; tests start it on a free
port in a thread (tests/fulfillment/fulfillment_support.py).
"""
