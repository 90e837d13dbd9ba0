FROM python:3.11-slim
WORKDIR /app
# development allows private webhook targets and other conveniences: never the default of an image
ENV CTRIP_ENV=production
COPY constraints.txt pyproject.toml README.md ./
COPY ctrip_core ./ctrip_core
COPY plugins ./plugins
COPY alembic ./alembic
COPY alembic.ini settings.toml ./
RUN pip install --no-cache-dir -c constraints.txt -e . -e plugins/ctrip_ethereum -e plugins/ctrip_bsc -e plugins/ctrip_anvil \
    -e plugins/ctrip_notify_smtp
USER nobody
CMD ["ctrip", "api", "--bind", "0.0.0.0:8000"]
