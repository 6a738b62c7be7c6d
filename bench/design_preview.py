#!/usr/bin/env python
"""Benchmark: the design editor's live preview, end to end over HTTP (issue 17, "Speed").

What one "edit" costs the seller: the editor POSTs its edit state (JSON) to
/orders/<id>/print-files/lines/<id>/front/design/preview/ and shows the PNG that comes
back. Here a real HTTP server (the project's WSGI application behind sandboxes/wsgi.py's
threaded server, every middleware, the session, CSRF, the workspace scope) answers a client
on a real socket, with a signed-in seller's session cookie. Each request is a new edit
(the text changes every time, as typing does), timed from the request sent to the last
byte of the image read.

Templates: the demo catalog's two name prints (integrations/management/commands/
load_demo.py: "Mug 11 oz", 8.5 × 3.5 in; "Classic T-shirt", 10 × 4 in) and a photo mug
(a 3000 × 3000 JPEG uploaded in the editor, moved and cropped, plus the name). Target:
p95 ≤ 300 ms at preview size (640 px). Exits 1 when a target is missed.

The database is a throw-away SQLite file and files are stored on disk (FileSystemStorage
in a temporary MEDIA_ROOT), as in the embedded default.

    .venv/bin/python bench/design_preview.py             # 200 edits per template
    .venv/bin/python bench/design_preview.py --edits 50  # quick look
"""

import argparse
import http.client
import io
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="podhub-design-bench-"))
os.environ["DJANGO_SETTINGS_MODULE"] = "podhub.settings.test"
os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'db.sqlite3'}"
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
TARGET_P95_MS = 300.0

PHOTO_SPEC = {
    "width_in": 8.5, "height_in": 3.5, "dpi": 300,
    "fonts": ["dejavu-sans", "dejavu-serif"], "colors": ["#1d232b", "#b91c1c"],
    "layers": [
        {"type": "background", "color": "#ffffff"},
        {"type": "image", "key": "Photo", "box": [0.25, 0.25, 3, 3], "fit": "cover"},
        {"type": "text", "key": "Name", "box": [3.5, 0.5, 4.5, 2.5],
         "font": "dejavu-sans-bold", "size_pt": 72, "min_size_pt": 12, "color": "#1d232b"},
    ],
}


def setup():
    import django
    from django.conf import settings

    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(WORK / "media")}}}
    settings.ALLOWED_HOSTS = ["*"]
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_data():
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django_scopes import scope, scopes_disabled
    from PIL import Image

    from fulfillment.models import DesignTemplate
    from fulfillment.printfiles import editor
    from integrations.management.commands.load_demo import DEMO_TEMPLATES
    from podhub.workspaces.models import Membership, Workspace
    from quotes.models import Product, Variant
    from tests.factories import LineItemFactory, OrderFactory

    user = get_user_model().objects.create_user(email="bench@example.test",
                                                password="bench-password-1")
    ws = Workspace.objects.create(name="Bench")
    Membership.objects.create(workspace=ws, user=user, role="owner")
    cases = {}
    with scopes_disabled():
        specs = {**DEMO_TEMPLATES, "Photo mug": PHOTO_SPEC}
        for i, (name, spec) in enumerate(specs.items()):
            product = Product.objects.create(name=name)
            variant = Variant.objects.create(product=product, sku=f"BENCH-{i}")
            DesignTemplate.objects.create(product=product, side="front", spec=spec)
            order = OrderFactory(workspace=ws, number=f"#B{i}", state="to_order")
            line = LineItemFactory(order=order, title=name, catalog_variant_id=variant.pk,
                                   personalization=[{"key": "Name", "value": "Ana"}])
            cases[name] = (order, line, spec)
    with scope(workspace=ws):
        buf = io.BytesIO()
        Image.effect_mandelbrot((3000, 3000), (-2, -1.5, 1, 1.5), 100).convert("RGB").save(
            buf, "JPEG", quality=90)
        order, line, _ = cases["Photo mug"]
        photo = editor.photo_upload(workspace=ws, order_id=order.pk, line_id=line.pk,
                                    side="front", upload=SimpleUploadedFile(
                                        "photo.jpg", buf.getvalue(), "image/jpeg"))
    return user, cases, photo.pk


def state_for(name: str, spec: dict, n: int, photo_id: int) -> dict:
    text_id = next(str(i) for i, layer in enumerate(spec["layers"]) if layer["type"] == "text")
    text = next(layer for layer in spec["layers"] if layer["type"] == "text")
    layers = [{"id": text_id, "text": f"Ana Maria {n}", "font": text["font"],
               "color": text["color"], "box": text["box"]}]
    if name == "Photo mug":
        shift = (n % 10) * 0.02
        layers.append({"id": "1", "photo": photo_id, "box": [0.25 + shift, 0.25, 2.8, 2.8],
                       "crop": [0.1, 0.1, 0.9, 0.9]})
    return {"layers": layers}


class Client:
    def __init__(self, port: int, cookies: dict):
        self.port, self.cookies = port, dict(cookies)

    def request(self, method, path, body=b"", headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body=body, headers={"Cookie": cookie, "Host": "localhost",
                                                       **(headers or {})})
        resp = conn.getresponse()
        data = resp.read()
        for value in resp.headers.get_all("Set-Cookie") or []:
            k, v = value.split(";", 1)[0].split("=", 1)
            self.cookies[k] = v
        conn.close()
        return resp.status, resp.headers, data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=200, help="edits per template")
    args = parser.parse_args()
    setup()
    from django.conf import settings
    from django.test import Client as DjangoClient

    from podhub.wsgi import application
    from sandboxes.wsgi import serve

    user, cases, photo_id = make_data()
    dj = DjangoClient()
    dj.force_login(user)
    server = serve(application)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    session = dj.cookies[settings.SESSION_COOKIE_NAME].value
    client = Client(port, {settings.SESSION_COOKIE_NAME: session})
    print(f"uptime: {os.popen('uptime').read().strip()}")
    print(f"{'template':<18} {'edits':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
          f"{'PNG KB':>7}")
    failed = False
    for name, (order, line, spec) in cases.items():
        base = f"/orders/{order.pk}/print-files/lines/{line.pk}/front/design/"
        status, _, page = client.request("GET", base)
        assert status == 200, (status, page[:300])
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        headers = {"Content-Type": "application/json", "X-CSRFToken": token.decode(),
                   "Referer": f"http://localhost:{port}{base}"}
        times, sizes = [], []
        for n in range(args.edits + 5):
            body = json.dumps(state_for(name, spec, n, photo_id)).encode()
            t0 = time.perf_counter()
            status, resp_headers, image = client.request("POST", base + "preview/", body,
                                                         headers)
            elapsed = (time.perf_counter() - t0) * 1000
            assert status == 200 and resp_headers["Content-Type"] == "image/png", \
                (status, image[:300])
            if n >= 5:  # the first few warm the fonts' cache
                times.append(elapsed)
                sizes.append(len(image))
        p95 = statistics.quantiles(times, n=20)[18]
        print(f"{name:<18} {len(times):>5} {statistics.median(times):>8.1f} {p95:>8.1f} "
              f"{max(times):>8.1f} {statistics.mean(sizes) / 1024:>7.1f}")
        failed |= p95 > TARGET_P95_MS
    server.shutdown()
    print(f"target p95 ≤ {TARGET_P95_MS:.0f} ms: {'MISSED' if failed else 'met'}")
    print(f"uptime: {os.popen('uptime').read().strip()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
