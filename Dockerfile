# Ranklet: one container, one `ranklet serve` (gunicorn). Data (SQLite file, generated
# secret key) lives in the /data volume; set RANKLET_DATABASE_URL for PostgreSQL.
#   docker build -t ranklet .
#   docker run -p 8000:8000 -v ranklet-data:/data ranklet
#   docker run --rm -v ranklet-data:/data ranklet ranklet site create myblog --origin https://blog.example
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --user-group ranklet \
    && mkdir /data \
    && chown ranklet:ranklet /data

WORKDIR /src
# The whole checkout (pyproject.toml, setup.py, README.md, service/, embed/ ...), minus
# what .dockerignore leaves out: setup.py copies embed/ into the package at build time.
COPY . .
# Installs this project with every dependency at the release in constraints.txt (what CI
# built and smoke-tested; refresh it with `python scripts/refresh_constraints.py`).
# hadolint ignore=DL3013
RUN pip install --no-cache-dir -c constraints.txt '.[postgres,redis]'

ENV RANKLET_INSTANCE_PATH=/data
VOLUME /data
WORKDIR /data
# The `ranklet` user by its number, so that runtimes can verify it is not root
# (e.g. Kubernetes' runAsNonRoot).
USER 10001:10001
EXPOSE 8000

# slim has no curl: urlopen raises (exit 1) on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["ranklet", "serve", "--host", "0.0.0.0", "--port", "8000"]
