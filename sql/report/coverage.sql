-- The search days of [$start, $end] that have data (at least one search in the marts): a window that runs past
-- the data, or has a gap in it, has fewer such days than its length, and the report says so.
SELECT count(*) AS days_with_data, min(day) AS first_day, max(day) AS last_day
FROM (
    SELECT day
    FROM marts.search_ctr
    WHERE day BETWEEN $start AND $end
    GROUP BY day
    HAVING sum(searches) > 0
);
