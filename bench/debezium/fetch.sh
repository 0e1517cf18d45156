#!/usr/bin/env bash
# Fetches the Debezium benchmark peer with Maven (bench/debezium/pom.xml):
# Kafka Connect's jars into $W2K_CACHE/debezium/connect and the Debezium
# PostgreSQL connector plugin, unpacked, into $W2K_CACHE/debezium/plugins.
# Idempotent: skipped when the pom has not changed since the last fetch.
#
#   bench/debezium/fetch.sh
#
# Environment: W2K_CACHE (default <repo>/.cache).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${W2K_CACHE:-$REPO/.cache}"
DEST="$CACHE/debezium"
POM="$HERE/pom.xml"

stamp="$(sha256sum "$POM" | cut -d' ' -f1)"
if [[ -f "$DEST/.w2k-stamp" && "$(cat "$DEST/.w2k-stamp")" == "$stamp" ]] &&
    compgen -G "$DEST/connect/connect-runtime-*.jar" >/dev/null &&
    compgen -G "$DEST/plugins/*/debezium-connector-postgres-*.jar" >/dev/null; then
    exit 0
fi
echo "fetch.sh: fetching Kafka Connect and the Debezium PostgreSQL plugin with Maven into $DEST" >&2
mkdir -p "$CACHE"
tmp="$(mktemp -d "$CACHE/debezium.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log="$CACHE/debezium-mvn.log"
if ! mvn -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DexcludeTypes=tar.gz \
    -DincludeScope=runtime -DoutputDirectory="$tmp/connect" >"$log" 2>&1 ||
    ! mvn -B -Dstyle.color=never -f "$POM" dependency:unpack-dependencies -DincludeTypes=tar.gz \
        -DoutputDirectory="$tmp/plugins" \
        -DmarkersDirectory="$tmp/markers" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fetch.sh: error: Maven could not fetch the Debezium peer (bench/debezium/pom.xml); log: $log" >&2
    exit 1
fi
compgen -G "$tmp/plugins/*/debezium-connector-postgres-*.jar" >/dev/null || {
    echo "fetch.sh: error: no debezium-connector-postgres jar in the unpacked plugin ($tmp/plugins)" >&2
    exit 1
}
echo "$stamp" >"$tmp/.w2k-stamp"
rm -rf "$DEST"
mv "$tmp" "$DEST"
trap - EXIT
chmod 0755 "$DEST"
