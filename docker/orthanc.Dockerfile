# syntax=docker/dockerfile:1
# Orthanc as the PACS of docker/compose.yaml: Debian's package (the Orthanc the integration
# tests run), the configuration of docker/orthanc/ and the Lua script that forwards SRs to
# sr2fhir. Build context: docker/.
FROM debian:bookworm-slim
# Not pinned: a pin would break with the next Debian security update of the package.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends orthanc \
    && rm -rf /var/lib/apt/lists/*
COPY orthanc/orthanc.json orthanc/sr2fhir-forward.lua /etc/orthanc/
# dcmtk-based peers are ~40x slower on loopback/bridges without it (docs/pacs-recipes.md)
ENV TCP_NODELAY=1
VOLUME ["/var/lib/orthanc/db"]
EXPOSE 4242 8042
# The package's own system user (its uid is chosen at install time).
# hadolint ignore=DL3066
USER orthanc
ENTRYPOINT ["Orthanc", "/etc/orthanc/orthanc.json"]
