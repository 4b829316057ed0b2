#!/usr/bin/env bash
# Installs everything tools/validator/validate.py needs to run the official HL7 FHIR validator
# fully offline. Idempotent: a second run only checks and does nothing.
#
#   1. the validator and its runtime dependencies, resolved by Maven from pom.xml and copied to
#      tools/validator/lib/ (org.hl7.fhir.validation, pinned in pom.xml);
#   2. the small launcher src/sr2fhir/validator/OfflineValidatorCli.java, compiled to
#      tools/validator/build/classes/ (ValidatorCli with the support package versions pinned);
#   3. the FHIR packages listed in packages.txt, fetched with `npm pack NAME@VERSION` and
#      unpacked into the FHIR package cache ~/.fhir/packages/NAME#VERSION/package/.
#
# Options:
#   --warm   afterwards run the validator once on a tiny resource, so that it builds its package
#            indexes (.index.json/.index.db) now rather than on the first real run.
# Environment:
#   MVN (default mvn), NPM (default npm), JAVA (default $JAVA_HOME/bin/java or java),
#   JAVAC (default $JAVA_HOME/bin/javac or javac), FHIR_PACKAGE_CACHE (default ~/.fhir/packages;
#   the validator itself always reads ~/.fhir/packages, so change it only for testing).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

warm=0
for arg in "$@"; do
  case "$arg" in
    --warm) warm=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

MVN="${MVN:-mvn}"
NPM="${NPM:-npm}"
if [[ -n "${JAVA_HOME:-}" ]]; then
  JAVA="${JAVA:-$JAVA_HOME/bin/java}"; JAVAC="${JAVAC:-$JAVA_HOME/bin/javac}"
else
  JAVA="${JAVA:-java}"; JAVAC="${JAVAC:-javac}"
fi
cache="${FHIR_PACKAGE_CACHE:-$HOME/.fhir/packages}"

log() { printf 'setup.sh: %s\n' "$*"; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "setup.sh: '$1' not found (needed: $2)" >&2; exit 1; }; }
need "$JAVA" "a Java 11+ runtime (Java 17 is what this was tested with)"
need "$JAVAC" "a JDK to compile the launcher"
need "$MVN" "Maven, to resolve the validator jars"
need "$NPM" "npm, to fetch the FHIR packages"
need python3 "to edit package.json files"

# ---- 1. validator jars ---------------------------------------------------------------------------
pom_sum="$(sha256sum pom.xml | cut -d' ' -f1)"
if [[ -f lib/.stamp && "$(cat lib/.stamp)" == "$pom_sum" ]]; then
  log "validator jars up to date ($(ls lib/*.jar | wc -l) jars in lib/)"
else
  log "resolving the validator and its dependencies with Maven"
  rm -rf lib.tmp
  "$MVN" -B -q -f pom.xml dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$here/lib.tmp"
  ls lib.tmp/org.hl7.fhir.validation-*.jar >/dev/null
  rm -rf lib && mv lib.tmp lib
  echo "$pom_sum" > lib/.stamp
  log "copied $(ls lib/*.jar | wc -l) jars to lib/"
fi

# ---- 2. launcher -----------------------------------------------------------------------------------
src=src/sr2fhir/validator/OfflineValidatorCli.java
cls=build/classes/sr2fhir/validator/OfflineValidatorCli.class
if [[ -f "$cls" && "$cls" -nt "$src" && "$cls" -nt lib/.stamp ]]; then
  log "launcher up to date"
else
  log "compiling $src"
  rm -rf build/classes && mkdir -p build/classes
  "$JAVAC" -nowarn -encoding UTF-8 --release 11 -d build/classes -cp "lib/*" "$src"
fi

# ---- 3. FHIR packages --------------------------------------------------------------------------------
mkdir -p "$cache"
[[ -f "$cache/packages.ini" ]] || printf '[cache]\nversion = 3\n' > "$cache/packages.ini"

# Rewrites package.json "dependencies" from package.json.orig (see packages.txt).
set_deps() { # dir spec
  python3 - "$1" "$2" <<'PY'
import json, os, shutil, sys
pkg_dir, spec = sys.argv[1], sys.argv[2]
path = os.path.join(pkg_dir, "package.json")
orig = path + ".orig"
if not os.path.exists(orig):
    shutil.copy2(path, orig)
with open(orig, encoding="utf-8") as f:
    data = json.load(f)
deps = {}
for item in filter(None, spec.split(",")):
    name, _, version = item.partition("@")
    deps[name] = version
data["dependencies"] = deps
new = json.dumps(data, indent=2) + "\n"
old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
if new != old:
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
    print(f"setup.sh:   {os.path.basename(os.path.dirname(pkg_dir))}: dependencies set to {deps or '{}'}")
PY
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
while read -r line; do
  line="${line%%#*}"
  read -r name version extra <<<"$line" || true
  [[ -z "${name:-}" ]] && continue
  dir="$cache/$name#$version"
  if [[ -f "$dir/package/package.json" ]]; then
    log "package $name#$version present"
  else
    log "fetching $name@$version with npm pack"
    (cd "$tmp" && "$NPM" pack --silent --ignore-scripts "$name@$version" >/dev/null)
    tgz="$(ls "$tmp"/*.tgz)"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    tar -xzf "$tgz" -C "$dir.tmp"
    [[ -f "$dir.tmp/package/package.json" ]] || { echo "setup.sh: $tgz has no package/package.json" >&2; exit 1; }
    rm -f "$tgz"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  case "${extra:-}" in
    deps=*) set_deps "$dir/package" "${extra#deps=}" ;;
    "") ;;
    *) echo "setup.sh: packages.txt: cannot read '$extra' for $name" >&2; exit 1 ;;
  esac
done < packages.txt

# ---- 4. optional warm-up ----------------------------------------------------------------------------
if [[ "$warm" == 1 ]]; then
  log "warm-up run (builds the package indexes)"
  printf '{"resourceType":"Basic","id":"warmup","code":{"text":"warm-up"}}\n' > "$tmp/Basic-warmup.json"
  python3 "$here/validate.py" --quiet "$tmp/Basic-warmup.json" || true
fi

log "done"
