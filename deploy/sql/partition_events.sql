-- Partition the campaign log (events) by month once it grows past tens of millions of rows: retrieval reads recent
-- events of one campaign, so monthly partitions keep those scans and index maintenance small, and old months can
-- be switched out to an archive table. Apply during a maintenance window; it rebuilds the clustered index.
CREATE PARTITION FUNCTION pf_events_month (datetime2)
  AS RANGE RIGHT FOR VALUES ('2026-01-01', '2026-02-01', '2026-03-01', '2026-04-01', '2026-05-01', '2026-06-01',
                             '2026-07-01', '2026-08-01', '2026-09-01', '2026-10-01', '2026-11-01', '2026-12-01');
GO
CREATE PARTITION SCHEME ps_events_month AS PARTITION pf_events_month ALL TO ([PRIMARY]);
GO
-- Rebuild the events clustered index on the scheme, keyed by (occurred_at, id) so the partition column is part of it.
-- (Run `SELECT name FROM sys.indexes WHERE object_id = OBJECT_ID('events')` to get the current primary key name.)
-- ALTER TABLE events DROP CONSTRAINT <pk_name>;
-- CREATE CLUSTERED INDEX cx_events_occurred ON events (occurred_at, id) ON ps_events_month (occurred_at);
-- ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY NONCLUSTERED (id) ON [PRIMARY];
GO
-- Each month, add next month's boundary ahead of time:
-- ALTER PARTITION SCHEME ps_events_month NEXT USED [PRIMARY];
-- ALTER PARTITION FUNCTION pf_events_month() SPLIT RANGE ('2027-01-01');
GO
