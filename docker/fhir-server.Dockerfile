# syntax=docker/dockerfile:1
# The test FHIR server of tests/fhir-server (HAPI FHIR 8.8.0 JPA, in-memory H2: data is lost
# at restart; for trying the stack, not for production). Build context: tests/fhir-server.
FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
COPY pom.xml ./
COPY src ./src
RUN mvn -q -B package

FROM eclipse-temurin:17-jre
RUN groupadd --system --gid 10001 fhir \
    && useradd --system --uid 10001 --gid fhir --no-create-home fhir
COPY --from=build /src/target/sr2fhir-test-fhir-server.jar /opt/fhir-server/
COPY --from=build /src/target/lib /opt/fhir-server/lib
USER 10001:10001
EXPOSE 8080
# The JVM settings of tests/fhir-server/run.sh (measured there); R4 with --fhir-version R4.
ENTRYPOINT ["java", "-Xmx2g", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", \
            "-XX:+ExitOnOutOfMemoryError", "-jar", "/opt/fhir-server/sr2fhir-test-fhir-server.jar", \
            "--host", "0.0.0.0", "--port", "8080"]
CMD ["--fhir-version", "R5"]
