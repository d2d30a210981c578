-- A user's interactions in raw (the id as stored: the pseudonym where loads pseudonymise).
SELECT count(*) FROM raw.interactions WHERE user_id = $user_id;
