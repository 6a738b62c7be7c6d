"""gunicorn settings of PodHub's web process: `gunicorn podhub.wsgi --config
python:podhub.gunicorn_conf` (Dockerfile, docker-compose.yml, scripts/run.sh).

The limits on what gunicorn itself reads before the app sees a request (docs/security.md
"Request limits"): the request line (a URL of at most 4094 bytes; a bulk "Pay selected"
redirect names up to 200 orders), 100 header fields, 8190 bytes per field. gunicorn has no
limit on the body: PodHub's RequestSizeLimitMiddleware refuses oversize bodies, and a
reverse proxy in front should cap them too (nginx `client_max_body_size 61m`).
"""

limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
