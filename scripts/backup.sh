#!/usr/bin/env bash
# Back up cTrip's PostgreSQL database: scripts/backup.sh [FILE]   (docs/deploy.md#backups-and-restore)
#
# Dumps the database of $CTRIP_DATABASE_URL (the URL cTrip itself uses) with pg_dump's custom format
# to FILE (default ctrip-YYYYmmddTHHMMSSZ.dump), written to a temporary name and moved into place
# only when complete, readable by its owner alone. Restore with scripts/restore.sh.
#
# NOT in the dump, and to be backed up separately, offline: wallet.mnemonic (losing it loses the
# funds on every deposit address) and secret_key (losing it loses every webhook endpoint's secret).
set -euo pipefail

die() { echo "backup: $*" >&2; exit "${2:-1}"; }

[ $# -le 1 ] || die "usage: scripts/backup.sh [FILE]" 2
[ -n "${CTRIP_DATABASE_URL:-}" ] || die "set CTRIP_DATABASE_URL (the database_url cTrip uses)" 2
command -v pg_dump >/dev/null || die "pg_dump is not installed (Debian package postgresql-client)"

# SQLAlchemy's driver suffix (postgresql+asyncpg://) means nothing to libpq.
url="${CTRIP_DATABASE_URL/#postgresql+asyncpg:/postgresql:}"
case "$url" in
    postgresql://*|postgres://*) ;;
    *) die "CTRIP_DATABASE_URL is not a PostgreSQL URL: only PostgreSQL is backed up by this script" 2 ;;
esac

out="${1:-ctrip-$(date -u +%Y%m%dT%H%M%SZ).dump}"
tmp="$out.partial"
umask 077
trap 'rm -f "$tmp"' EXIT
pg_dump --format=custom --no-owner --no-privileges --file="$tmp" --dbname="$url" \
    || die "pg_dump failed (see above); nothing written to $out"
mv "$tmp" "$out"
trap - EXIT
echo "backup: wrote $out ($(wc -c <"$out") bytes). The mnemonic and secret_key are not in it: back them up apart." >&2
