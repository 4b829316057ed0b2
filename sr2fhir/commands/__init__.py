"""Sub-commands of the `sr2fhir` command line, one module each."""
