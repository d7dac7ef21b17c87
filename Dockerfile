# The exporter image (built with BuildKit, Docker's default builder since Engine 23).
# `docker compose up` runs it in demo mode (built-in simulators); for real use,
# mount a config and run without `demo`:
#   docker run --read-only -v $PWD/config.yaml:/etc/sms-delivery-exporter/config.yaml:ro \
#     -v sms-state:/var/lib/sms-delivery-exporter -e SMS_EXPORTER_INTAKE_TOKEN -p 19466:19466 \
#     sms-delivery-exporter \
#     --config.file /etc/sms-delivery-exporter/config.yaml --web.listen-address :19466
# Listening on all interfaces (`:19466`) needs intake.token in the config (or intake.auth: none).
#
# The base is pinned by digest (the multi-platform index of the official
# python:3.11.16-slim-trixie image): a rebuild gets the same bytes until the pin
# is moved on purpose. Bump the tag and the digest together.
FROM python:3.11.16-slim-trixie@sha256:be1575ed968de893bd54f4c56315ff7c4736ce522c1bca08fd521731aafc0d76 AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Wheels of the exporter and every dependency, built once; the final stage
# installs them without a compiler, a cache or the sources.
FROM base AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
COPY plugins ./plugins
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM base
# A fixed numeric user, so that Kubernetes' runAsNonRoot can verify it and the
# manifests' runAsUser/fsGroup (deploy/kubernetes) match the owner of the state directory.
RUN groupadd --system --gid 10001 exporter \
 && useradd --system --uid 10001 --gid 10001 --no-log-init \
      --home-dir /var/lib/sms-delivery-exporter --create-home --shell /usr/sbin/nologin exporter
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/sms_delivery_exporter-*.whl
USER 10001:10001
WORKDIR /var/lib/sms-delivery-exporter
# sms_exporter_build_info's revision label: docker build --build-arg REVISION=$(git rev-parse HEAD) .
ARG REVISION=unknown
ENV SMS_DELIVERY_EXPORTER_REVISION=$REVISION
EXPOSE 19466
# Liveness of the process (not readiness: /-/ready also reflects the store).
# The image has no curl; Python asks. Another port: set SMS_EXPORTER_HEALTHCHECK_URL.
ENV SMS_EXPORTER_HEALTHCHECK_URL=http://127.0.0.1:19466/-/healthy
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['SMS_EXPORTER_HEALTHCHECK_URL'], timeout=4)"]
ENTRYPOINT ["sms-delivery-exporter"]
CMD ["demo", "--web.listen-address", "0.0.0.0:19466"]
