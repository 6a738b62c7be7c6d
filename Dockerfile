FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=podhub.settings.production PODHUB_VAR_DIR=/app/var
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libfribidi0 curl \
    postgresql-client \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY podhub podhub
COPY orders orders
COPY quotes quotes
COPY fulfillment fulfillment
COPY billing billing
COPY integrations integrations
RUN pip install --no-cache-dir .
COPY . .
RUN SECRET_KEY=build-only-not-secret-0123456789abcdef ALLOWED_HOSTS=localhost \
    PODHUB_ENCRYPTION_KEYS=JFd1kPjv_bVGBXYi1Dri5rYgQIKzxV6bRoFfT6zoP9U= \
    python manage.py collectstatic --noinput \
    && useradd --system --create-home podhub && mkdir -p /app/var && chown -R podhub /app/var
USER podhub
EXPOSE 8000
CMD ["gunicorn", "podhub.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
