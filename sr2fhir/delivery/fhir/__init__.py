"""Delivery to a FHIR server: HTTP client and TLS, authentication, reference resolution,
the server's answers, and the sink."""
