#!/usr/bin/env bash
# One login role per service (run once by the postgres image on a fresh volume). Each role
# creates, and so owns, the tables its migrations make; no role is granted another's tables.
set -euo pipefail
: "${RESERVES_DB_PASSWORD:?}" "${TRANSPORT_DB_PASSWORD:?}" "${DISPATCH_DB_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v reserves="$RESERVES_DB_PASSWORD" -v transport="$TRANSPORT_DB_PASSWORD" \
  -v dispatch="$DISPATCH_DB_PASSWORD" <<'SQL'
CREATE ROLE reserves LOGIN PASSWORD :'reserves';
CREATE ROLE transport LOGIN PASSWORD :'transport';
CREATE ROLE dispatch LOGIN PASSWORD :'dispatch';
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO reserves, transport, dispatch;
SQL
