"""Delivery to a FHIR server: HTTP client, reference resolution, retry classification."""
