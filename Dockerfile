# The exporter image. `docker compose up` runs it in demo mode (built-in
# simulators); for real use, mount a config and run without `demo`:
#   docker run -v $PWD/config.yaml:/etc/sms-delivery-exporter/config.yaml \
#     -v sms-state:/var/lib/sms-delivery-exporter -p 19466:19466 sms-delivery-exporter \
#     --config.file /etc/sms-delivery-exporter/config.yaml --web.listen-address :19466
FROM python:3.11-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
COPY plugins ./plugins
RUN pip install --no-cache-dir . && rm -rf /src

RUN useradd --system --home /var/lib/sms-delivery-exporter --create-home exporter
USER exporter
WORKDIR /var/lib/sms-delivery-exporter
EXPOSE 19466
ENTRYPOINT ["sms-delivery-exporter"]
CMD ["demo", "--web.listen-address", "0.0.0.0:19466"]
