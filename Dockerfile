FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MASTERCOPY_DATA_DIR=/data
WORKDIR /app
# CI replays this file's ENV, WORKDIR, COPY and RUN steps in a clean venv (.ci/dockerfile-steps.py).
COPY pyproject.toml README.md ./
COPY mastercopy mastercopy
COPY catalogue catalogue
COPY dedup dedup
COPY review review
COPY api api
COPY iiif iiif
RUN pip install --no-cache-dir '.[production]'
COPY . .
# Settings refuse to load without their secrets when DEBUG is off; collectstatic needs neither, so
# placeholders that exist only in this step (the running container gets the real ones).
RUN SECRET_KEY=build-only MASTERCOPY_AUDIT_KEY=build-only-placeholder-never-used-to-sign \
    python manage.py collectstatic --noinput
# ci: skip (creates a system user: CI must not do that to its own host)
RUN useradd --system --uid 1000 mastercopy && mkdir -p /data && chown mastercopy /data
USER mastercopy
EXPOSE 8000
CMD ["gunicorn", "mastercopy.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "300"]
