#!/bin/sh
# Runs once, after 10-shop.sql, when the postgres service initialises its data
# directory. The image's pg_hba.conf lets every role connect to databases with a
# password from any address, but replication connections only from inside the
# container: let the wal2kafka role stream from the compose network too.
set -e
echo "host replication wal2kafka all scram-sha-256" >>"$PGDATA/pg_hba.conf"
