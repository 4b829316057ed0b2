"""What a validation library would add to loading the configuration (the decision recorded
in sr2fhir/config/loading.py and docs/gateway.md).

    python3 benchmarks/config_load.py [--runs 9]

Each candidate runs in a fresh interpreter, after the schema (sr2fhir.config.schema) is
imported: import the library, build its validator for Config, validate the sample file
(config/sr2fhir.yaml, already parsed: YAML parsing costs the same to all; for the
libraries without the flat fhir auth keys, which they cannot map onto the FhirAuth union).
Prints the best of --runs, in ms. msgspec is measured when
importable (it is not a dependency: `pip install --target DIR msgspec`, PYTHONPATH=DIR).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys, time
import yaml
from sr2fhir.config.schema import Config
data = yaml.safe_load(open("config/sr2fhir.yaml"))
plain = dict(data, fhir={k: v for k, v in data["fhir"].items()
                         if not k.startswith(("auth_", "smart_")) and k != "headers"},
             mapping=dict(data["mapping"], issuer_systems=[]))
candidate = sys.argv[1]
t0 = time.perf_counter()
if candidate == "coercer":
    from sr2fhir.config.loading import load_config
    t1 = t2 = time.perf_counter()
    load_config(env={}, overrides={f"{s}.{k}": v for s, keys in data.items()
                                   for k, v in keys.items() if v is not None})
elif candidate == "pydantic":
    from pydantic import TypeAdapter
    t1 = time.perf_counter()
    adapter = TypeAdapter(Config)
    t2 = time.perf_counter()
    adapter.validate_python(plain)
else:
    import msgspec
    t1 = t2 = time.perf_counter()
    try:
        msgspec.convert(plain, Config)
    except TypeError as exc:
        print(json.dumps({"error": str(exc).split(" - ")[0]}))
        raise SystemExit(0)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "build": t2 - t1, "validate": t3 - t2}))
"""


def run(candidate: str) -> dict[str, float | str] | None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, candidate], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        return None  # the library is not installed
    result: dict[str, float | str] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    print(
        f"{'candidate':<10} {'import':>8} {'build':>8} {'validate':>9}  (ms, best of {args.runs})"
    )
    for candidate in ("coercer", "pydantic", "msgspec"):
        runs = [r for r in (run(candidate) for _ in range(args.runs)) if r is not None]
        if not runs:
            print(f"{candidate:<10} not installed")
        elif "error" in runs[0]:
            print(f"{candidate:<10} cannot: {runs[0]['error']}")
        else:
            best = {
                k: min(float(r[k]) for r in runs) * 1000 for k in ("import", "build", "validate")
            }
            cells = f"{best['import']:8.1f} {best['build']:8.1f} {best['validate']:9.1f}"
            print(f"{candidate:<10} {cells}")


if __name__ == "__main__":
    main()
