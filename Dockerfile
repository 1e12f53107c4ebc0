# A slim image that runs `deskgate serve`. For one container: embedded Redis in /data.
# For the multi-process shape (external Redis, N gateways, M workers) see compose.yaml.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY connectors connectors
COPY triage triage
COPY models models
COPY queue queue
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --home /data --uid 10001 deskgate \
    && mkdir -p /data && chown deskgate /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER deskgate
ENV DESKGATE_DATA_DIR=/data PYTHONUNBUFFERED=1
VOLUME /data
EXPOSE 8080 2525
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; \
sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"
ENTRYPOINT ["deskgate"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
