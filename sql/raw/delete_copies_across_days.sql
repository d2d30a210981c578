-- The copies listed by rank_copies_across_days leave raw.interactions (quarantined just before).
DELETE FROM raw.interactions
WHERE EXISTS (
    SELECT 1
    FROM copies_across_days AS losing
    WHERE losing.losing_day = raw.interactions.partition_date
      AND losing.interaction_id = raw.interactions.interaction_id
      AND losing.losing_at = raw.interactions."timestamp"
);
