#!/usr/bin/env bash
# Restore a scripts/backup.sh dump: scripts/restore.sh FILE   (docs/deploy.md#backups-and-restore)
#
# Into the database of $CTRIP_DATABASE_URL, which must exist and be empty (create it first:
# `createdb -O ctrip ctrip`); a database with tables is refused rather than mixed. One transaction:
# a failed restore leaves the database as empty as it was. Afterwards run `ctrip db upgrade`
# (a dump from an older cTrip is migrated forward) before starting the processes.
set -euo pipefail

die() { echo "restore: $*" >&2; exit "${2:-1}"; }

[ $# -eq 1 ] || die "usage: scripts/restore.sh FILE" 2
dump="$1"
[ -f "$dump" ] || die "$dump does not exist" 2
[ -n "${CTRIP_DATABASE_URL:-}" ] || die "set CTRIP_DATABASE_URL (the database to restore into)" 2
command -v pg_restore >/dev/null || die "pg_restore is not installed (Debian package postgresql-client)"

url="${CTRIP_DATABASE_URL/#postgresql+asyncpg:/postgresql:}"
case "$url" in
    postgresql://*|postgres://*) ;;
    *) die "CTRIP_DATABASE_URL is not a PostgreSQL URL" 2 ;;
esac

tables=$(psql --dbname="$url" --no-psqlrc --tuples-only --no-align --quiet \
    --command="SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") \
    || die "cannot connect to the database of CTRIP_DATABASE_URL (see above)"
[ "$tables" = "0" ] || die "the target database already has $tables tables: restore into a new, empty database" 2

pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$dump" \
    || die "pg_restore failed (see above); the database is left empty"
echo "restore: restored $dump. Next: \`ctrip db upgrade\`, then start the processes." >&2
