-- Backups for point-in-time restore. Schedule with SQL Server Agent (or your platform's job runner):
--   full: weekly; differential: daily; log: every 15 minutes (the recovery point objective).
-- The database must use the FULL recovery model for log backups and point-in-time restore.
ALTER DATABASE dungeonmaster SET RECOVERY FULL;
GO

-- Full backup (weekly).
BACKUP DATABASE dungeonmaster
  TO DISK = N'/var/opt/mssql/backup/dungeonmaster_full.bak'
  WITH INIT, COMPRESSION, CHECKSUM, STATS = 10;
GO

-- Differential backup (daily): changes since the last full backup.
BACKUP DATABASE dungeonmaster
  TO DISK = N'/var/opt/mssql/backup/dungeonmaster_diff.bak'
  WITH DIFFERENTIAL, INIT, COMPRESSION, CHECKSUM;
GO

-- Transaction log backup (every 15 minutes); use a new file name per run in the job, e.g. with a timestamp.
BACKUP LOG dungeonmaster
  TO DISK = N'/var/opt/mssql/backup/dungeonmaster_log.trn'
  WITH COMPRESSION, CHECKSUM;
GO

-- Verify the last full backup is readable.
RESTORE VERIFYONLY FROM DISK = N'/var/opt/mssql/backup/dungeonmaster_full.bak' WITH CHECKSUM;
GO
