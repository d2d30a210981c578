-- A user's quarantined records, by the user_id parsed when each was quarantined: never by a match on the JSON,
-- where the id could stand in another field or in another spelling (escaped).
DELETE FROM raw.rejected_interactions WHERE user_id = $user_id;
