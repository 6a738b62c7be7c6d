#!/usr/bin/env bash
# `make run`: the embedded default on one machine — SQLite, a Celery worker and
# beat over the file-system broker, web on http://127.0.0.1:8000. Ctrl-C stops all.
# Ports come from PORT, SANDBOX_PORT, WOO_SANDBOX_PORT, ETSY_SANDBOX_PORT, FACTORY_PORT and
# STRIPE_SANDBOX_PORT; state and logs go to PODHUB_VAR_DIR (default var/);
# FACTORY_STEP_SECONDS is the sandbox factory's production step (20).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-podhub.settings.base}
export PORT=${PORT:-8000}  # the settings derive PODHUB_PUBLIC_URL from it too
export PODHUB_VAR_DIR=${PODHUB_VAR_DIR:-$(pwd)/var}
VAR=$PODHUB_VAR_DIR
# where providers fetch print files and stores send webhooks
export PODHUB_PUBLIC_URL=${PODHUB_PUBLIC_URL:-http://127.0.0.1:$PORT}
# E-mails are files under var/mail/ and readable at /dev/mail/ (nothing is sent).
export EMAIL_URL=${EMAIL_URL:-filemail:///$PODHUB_VAR_DIR/mail}  # django-environ drops one leading slash
PY=.venv/bin/python
mkdir -p "$VAR/log" "$VAR/staticfiles"

$PY manage.py migrate --noinput >"$VAR/log/migrate.log"
$PY manage.py load_demo

pids=()
stopping=""
stop() {
  stopping=1
  trap - INT TERM EXIT
  echo; echo "Stopping PodHub…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Give them 15 s to finish the task at hand, then make sure nothing is left behind.
  for _ in $(seq 30); do
    alive=""
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do pkill -KILL -P "$pid" 2>/dev/null || true; kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

# The Stripe-like sandbox (sandboxes/stripe): the checkout page and Stripe-signed events
# for balance top-ups; started unless STRIPE_SECRET_KEY points PodHub at the real Stripe.
if [ -z "${STRIPE_SECRET_KEY:-}" ]; then
  export STRIPE_API_BASE=${STRIPE_API_BASE:-http://127.0.0.1:${STRIPE_SANDBOX_PORT:-12111}}
  $PY -m sandboxes.stripe --port "${STRIPE_SANDBOX_PORT:-12111}" \
    --webhook-url "http://127.0.0.1:$PORT/webhooks/stripe/" >"$VAR/log/stripe-sandbox.log" 2>&1 &
  pids+=($!)
fi
# Etsy's sandbox address (below), read by web and worker at start (settings.ETSY_*)
ETSY_SANDBOX_PORT=${ETSY_SANDBOX_PORT:-8040}
export PODHUB_SANDBOX_ETSY_URL="http://127.0.0.1:$ETSY_SANDBOX_PORT"
.venv/bin/celery -A podhub worker -Q celery,sweeps --loglevel=INFO --concurrency=2 >"$VAR/log/worker.log" 2>&1 &
pids+=($!)
.venv/bin/celery -A podhub beat --loglevel=INFO --schedule "$VAR/celerybeat-schedule" >"$VAR/log/beat.log" 2>&1 &
pids+=($!)
# The demo's "Sandbox Shopify store": a local Shopify-like server (its own state in
# $VAR/shopify-sandbox.sqlite3) that creates an order every minute and sends signed webhooks.
# Every sandbox keeps the stores "Try a sandbox store" made under $VAR/sandboxes/, so they
# and their credentials outlive a restart (sandboxes/state.py).
SANDBOX_PORT=${SANDBOX_PORT:-8010}
WOO_SANDBOX_PORT=${WOO_SANDBOX_PORT:-8030}
# "Try a sandbox store" asks these for a new store per workspace (PODHUB_SANDBOX_STORES)
export PODHUB_SANDBOX_SHOPIFY_URL="http://127.0.0.1:$SANDBOX_PORT"
export PODHUB_SANDBOX_WOOCOMMERCE_URL="http://127.0.0.1:$WOO_SANDBOX_PORT"
$PY manage.py run_shopify_sandbox --port "$SANDBOX_PORT" --db "$VAR/shopify-sandbox.sqlite3" \
  --state-dir "$VAR/sandboxes/shopify" \
  --access-token shpat_demo --webhook-secret demo-webhook-secret --seed-orders 25 \
  --webhook-url "http://127.0.0.1:$PORT/webhooks/shopify/" --generate-every 60 \
  >"$VAR/log/shopify-sandbox.log" 2>&1 &
pids+=($!)
DEMO_WS=$($PY manage.py load_demo --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["workspace_id"])')
$PY manage.py connect_store shopify --workspace "$DEMO_WS" --name "Sandbox Shopify store" \
  --shop-domain podhub-sandbox.myshopify.com --access-token shpat_demo \
  --webhook-secret demo-webhook-secret --api-base "http://127.0.0.1:$SANDBOX_PORT" --json \
  >/dev/null 2>&1 || true  # already connected on later runs
# The sandbox factory: takes submitted orders, "produces" them on a compressed clock
# and calls back with signed status and tracking; first choice for every catalog variant.
FACTORY_PORT=${FACTORY_PORT:-8020}
$PY manage.py run_sandbox_factory --port "$FACTORY_PORT" --connect --route-catalog \
  --callback-url "http://127.0.0.1:$PORT/webhooks/providers/sandbox-factory/" --step-seconds "${FACTORY_STEP_SECONDS:-20}" \
  >"$VAR/log/sandbox-factory.log" 2>&1 &
pids+=($!)
# The Etsy sandbox (sandboxes/etsy): Etsy's OAuth consent page and Open API v3 receipts,
# where "Connect an Etsy store" and "Try a sandbox Etsy store" go (ETSY_* settings); a
# personalised receipt arrives in each of its shops every 5 minutes.
if [ -z "${ETSY_API_KEY:-}" ]; then
  $PY manage.py run_etsy_sandbox --port "$ETSY_SANDBOX_PORT" --generate-every 300 \
    --state-file "$VAR/sandboxes/etsy.json" \
    --webhook-url "http://127.0.0.1:$PORT/webhooks/etsy/" \
    >"$VAR/log/etsy-sandbox.log" 2>&1 &
  pids+=($!)
fi
# The demo's "Sandbox WooCommerce store" (REST API v3 subset, signed webhooks), connected
# to the demo workspace; its webhook registration is retried until the web server is up.
$PY manage.py run_woocommerce_sandbox --port "$WOO_SANDBOX_PORT" --seed-orders 10 \
  --state-dir "$VAR/sandboxes/woocommerce" --generate-every 90 --connect-demo --workspace "$DEMO_WS" >"$VAR/log/woocommerce-sandbox.log" 2>&1 &
pids+=($!)
.venv/bin/gunicorn podhub.wsgi --config python:podhub.gunicorn_conf --bind "127.0.0.1:$PORT" --workers 2 --threads 4 \
  --access-logfile "$VAR/log/access.log" --error-logfile "$VAR/log/web.log" &
pids+=($!)

echo "  PodHub is starting on http://127.0.0.1:$PORT  (health: /healthz, API docs: /api/v1/docs/)"
echo "  Sandbox Shopify store on http://127.0.0.1:$SANDBOX_PORT, WooCommerce store on :$WOO_SANDBOX_PORT, Etsy on :$ETSY_SANDBOX_PORT, sandbox factory on :$FACTORY_PORT"
echo "  E-mails PodHub sends (sign-up codes, invitations, quotes): http://127.0.0.1:$PORT/dev/mail/ and $VAR/mail/"
echo "  Logs: $VAR/log/ — press Ctrl-C to stop web, worker, beat and the sandboxes."
# Exit (and stop the others) as soon as any of the three dies.
wait -n "${pids[@]}" || true
[ -n "$stopping" ] && exit 0
echo "A PodHub process exited; see $VAR/log/." >&2
exit 1
