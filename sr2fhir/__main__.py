"""`python -m sr2fhir` runs the command line."""

import sys

from sr2fhir.cli import main

sys.exit(main())
