-- The same interaction_id on two pages (a page-boundary race) lands once: keep the first copy loaded.
DELETE FROM raw.interactions
WHERE partition_date = $partition_date
  AND rowid IN (
      SELECT rowid
      FROM (
          SELECT rowid, row_number() OVER (PARTITION BY interaction_id ORDER BY rowid) AS copy_number
          FROM raw.interactions
          WHERE partition_date = $partition_date
      )
      WHERE copy_number > 1
  );
