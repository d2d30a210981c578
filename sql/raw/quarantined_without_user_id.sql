-- Quarantined JSON that names a user_id the column does not hold yet (quarantines from before the column).
SELECT DISTINCT raw_json
FROM raw.rejected_interactions
WHERE user_id IS NULL AND contains(raw_json, '"user_id"');
