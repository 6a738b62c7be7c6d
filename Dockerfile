FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=podhub.settings.production PODHUB_VAR_DIR=/app/var
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libfribidi0 curl \
    postgresql-client \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md requirements.lock ./
# Every app (the packages of pyproject.toml; tests/test_packaging.py keeps them in step),
# then the rest of the tree: site templates/, static/ (fonts), manage.py.
COPY podhub podhub
COPY orders orders
COPY quotes quotes
COPY billing billing
COPY fulfillment fulfillment
COPY integrations integrations
COPY webhooks webhooks
COPY automation automation
COPY insights insights
COPY ops ops
COPY sandboxes sandboxes
# The audited versions (requirements.lock, scripts/audit.sh), not whatever is newest today.
RUN pip install --no-cache-dir -c requirements.lock .
COPY . .
RUN SECRET_KEY=build-only-not-secret-0123456789abcdef ALLOWED_HOSTS=localhost \
    PODHUB_ENCRYPTION_KEYS=JFd1kPjv_bVGBXYi1Dri5rYgQIKzxV6bRoFfT6zoP9U= \
    STRIPE_SECRET_KEY=sk_build_only STRIPE_WEBHOOK_SECRET=whsec_build_only \
    python manage.py collectstatic --noinput \
    && useradd --system --create-home podhub && mkdir -p /app/var && chown -R podhub /app/var
USER podhub
EXPOSE 8000
CMD ["gunicorn", "podhub.wsgi", "--config", "python:podhub.gunicorn_conf", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
