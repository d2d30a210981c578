-- The debiased CTR estimates a probability but can exceed 1 on a small sample, so only the raw rates are checked.
SELECT count(*) AS bad_rows
FROM marts.document_ctr
WHERE NOT coalesce(ctr BETWEEN 0 AND 1, true)
   OR NOT coalesce(conversion_rate BETWEEN 0 AND 1, true)
   OR clicks > impressions
   OR debiased_ctr < 0;
