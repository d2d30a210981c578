-- The user_id parsed from each quarantined JSON (`found`, registered by warehouse.ensure_quarantined_user_ids).
UPDATE raw.rejected_interactions
SET user_id = found.user_id
FROM found
WHERE raw.rejected_interactions.user_id IS NULL AND raw.rejected_interactions.raw_json = found.raw_json;
