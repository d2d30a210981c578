-- The first and last search day the marts hold data for (NULLs when none): what a report on a window without
-- data points the reader to.
SELECT min(day) AS first_day, max(day) AS last_day
FROM (
    SELECT day
    FROM marts.search_ctr
    GROUP BY day
    HAVING sum(searches) > 0
);
