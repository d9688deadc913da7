-- Index maintenance (weekly, off-peak): reorganize lightly fragmented indexes, rebuild heavily fragmented ones,
-- refresh statistics. The events and lore tables take most writes; character state history grows steadily.
DECLARE @sql nvarchar(max) = N'';
SELECT @sql += CASE
    WHEN ps.avg_fragmentation_in_percent >= 30 THEN
      N'ALTER INDEX ' + QUOTENAME(i.name) + N' ON ' + QUOTENAME(s.name) + N'.' + QUOTENAME(o.name)
      + N' REBUILD WITH (ONLINE = ON);' + CHAR(10)
    ELSE
      N'ALTER INDEX ' + QUOTENAME(i.name) + N' ON ' + QUOTENAME(s.name) + N'.' + QUOTENAME(o.name)
      + N' REORGANIZE;' + CHAR(10)
  END
FROM sys.dm_db_index_physical_stats(DB_ID(), NULL, NULL, NULL, 'LIMITED') AS ps
JOIN sys.indexes AS i ON i.object_id = ps.object_id AND i.index_id = ps.index_id
JOIN sys.objects AS o ON o.object_id = ps.object_id
JOIN sys.schemas AS s ON s.schema_id = o.schema_id
WHERE ps.avg_fragmentation_in_percent >= 5 AND ps.page_count >= 1000 AND i.name IS NOT NULL
  AND o.is_ms_shipped = 0;
EXEC sp_executesql @sql;
GO
EXEC sp_updatestats;
GO
-- The lore full-text catalog is maintained automatically (change tracking AUTO); reorganize it monthly.
IF EXISTS (SELECT 1 FROM sys.fulltext_catalogs)
BEGIN
  DECLARE @cat sysname = (SELECT TOP 1 name FROM sys.fulltext_catalogs);
  EXEC (N'ALTER FULLTEXT CATALOG ' + @cat + N' REORGANIZE;');
END
GO
