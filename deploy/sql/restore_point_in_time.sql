-- Point-in-time restore: full, then the latest differential, then every log backup up to the moment before the
-- mistake. Restore into a new database name first and compare, then swap, so nothing is lost by a wrong STOPAT.
-- After a restore, rebuild the vector index from SQL (SQL is the truth): `python -m memory_svc reindex`.
RESTORE DATABASE dungeonmaster_restored
  FROM DISK = N'/var/opt/mssql/backup/dungeonmaster_full.bak'
  WITH MOVE 'dungeonmaster' TO N'/var/opt/mssql/data/dungeonmaster_restored.mdf',
       MOVE 'dungeonmaster_log' TO N'/var/opt/mssql/data/dungeonmaster_restored_log.ldf',
       NORECOVERY, REPLACE;
GO
RESTORE DATABASE dungeonmaster_restored
  FROM DISK = N'/var/opt/mssql/backup/dungeonmaster_diff.bak'
  WITH NORECOVERY;
GO
-- Repeat for each log backup taken after the differential, in order; the last one carries STOPAT.
RESTORE LOG dungeonmaster_restored
  FROM DISK = N'/var/opt/mssql/backup/dungeonmaster_log.trn'
  WITH STOPAT = N'2026-01-01T12:00:00', RECOVERY;
GO
