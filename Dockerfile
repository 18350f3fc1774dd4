# One image for the three Dagster services of docker-compose.yml: the code location (gRPC
# code server, which also runs the runs), the webserver and the daemon. The two DAGSTER_*
# settings make a run over many partitions cheap (docs/architecture.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home \
    TGSTATS_HOME=/opt/tgstats/home \
    DAGSTER_EVENT_BATCH_SIZE=1000 \
    DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=true

# The project, installed as a package (not editable): the image holds no source tree.
COPY setup.py pyproject.toml README.md /src/
COPY tgstats_dagster /src/tgstats_dagster
RUN pip install --no-cache-dir /src && rm -rf /src

# The instance (PostgreSQL storage, queued runs, the Telegram pool) and the workspace that
# points the webserver and the daemon at the code server. `storage/` holds the runs' stdout and
# stderr; docker-compose.yml shares it between the code server and the webserver.
COPY dagster.yaml /opt/dagster/home/dagster.yaml
COPY workspace.docker.yaml /opt/dagster/workspace.yaml

# A fixed path to the bundled demo scenario: TGSTATS_TELEGRAM_REPLAY=/opt/tgstats/demo_scenario
# runs the whole stack on the offline Telegram.
RUN useradd --create-home --uid 1000 tgstats \
    && mkdir -p /opt/dagster/home/storage /opt/tgstats/home \
    && ln -s "$(python -c 'import pathlib, tgstats_dagster; print(pathlib.Path(tgstats_dagster.__file__).parent / "telegram" / "demo_scenario")')" /opt/tgstats/demo_scenario \
    && chown -R tgstats:tgstats /opt/dagster /opt/tgstats
USER tgstats
WORKDIR /opt/dagster

EXPOSE 3000 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "tgstats_dagster.definitions", "--location-name", "tgstats"]
