DELETE FROM raw.interactions WHERE user_id = $user_id;
