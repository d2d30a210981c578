DELETE FROM marts.query_health WHERE list_contains($days, day);
