-- Quarantined records keep their JSON as received: match the user in it when it parses, and as a quoted
-- string anywhere in it when it does not (a malformed record can still carry the id).
DELETE FROM raw.rejected_interactions
WHERE coalesce(try(json_extract_string(raw_json, '$.user_id')) = $user_id, false)
   OR contains(raw_json, '"' || $user_id || '"');
