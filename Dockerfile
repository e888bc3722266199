# The gateway on the embedded default (SQLite in /data, the bundled demo directory).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY schemas ./schemas
# editable: the service reads schemas/openapi.yaml from the source tree, as it does in development
RUN pip install --no-cache-dir -e . && useradd --system --home /data gateway && mkdir -p /data && chown gateway /data
USER gateway
EXPOSE 8080 2575
ENV GATEWAY_HOST=0.0.0.0 GATEWAY_DATA_DIR=/data
VOLUME ["/data"]
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health')"
CMD ["gateway", "serve"]
