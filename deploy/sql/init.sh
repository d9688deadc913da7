#!/usr/bin/env bash
# Compose init step: create the database if needed and apply the schema rendered from the migrations.
set -euo pipefail
SQLCMD=/opt/mssql-tools18/bin/sqlcmd
"$SQLCMD" -C -S sqlserver -U sa -P "$MSSQL_SA_PASSWORD" -b -Q \
  "IF DB_ID('dungeonmaster') IS NULL CREATE DATABASE dungeonmaster;"
# Idempotent: the rendered script records its revision in alembic_version; skip when already applied.
applied=$("$SQLCMD" -C -S sqlserver -U sa -P "$MSSQL_SA_PASSWORD" -d dungeonmaster -h -1 -W -Q \
  "SET NOCOUNT ON; IF OBJECT_ID('alembic_version') IS NOT NULL SELECT COUNT(*) FROM alembic_version ELSE SELECT 0" | tr -d '[:space:]')
if [ "$applied" = "0" ]; then
  "$SQLCMD" -C -S sqlserver -U sa -P "$MSSQL_SA_PASSWORD" -d dungeonmaster -b -i /sql/memory_schema.sql
fi
