FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MASTERCOPY_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY mastercopy mastercopy
COPY catalogue catalogue
COPY dedup dedup
COPY review review
RUN pip install --no-cache-dir '.[production]'
COPY . .
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && useradd --system --uid 1000 mastercopy && mkdir -p /data && chown mastercopy /data
USER mastercopy
EXPOSE 8000
CMD ["gunicorn", "mastercopy.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "300"]
