-- Write-audit-publish: the day, landed and typed in the load's staging file (attached as `staged`), goes into
-- the warehouse inside the day's transaction.
INSERT INTO raw.interactions BY NAME
SELECT * FROM staged.raw.interactions WHERE partition_date = $partition_date;
