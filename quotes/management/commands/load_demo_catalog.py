import json

from django.core.management.base import BaseCommand

from quotes.demo import load_demo_catalog


class Command(BaseCommand):
    help = "Create (once) a small demo catalog: mugs, T-shirts, a stamp, shipping rates."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        result = load_demo_catalog()
        if opts["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(f"Demo catalog ready ({result['variants_created']} new variants).")
