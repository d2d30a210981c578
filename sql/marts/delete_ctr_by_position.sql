DELETE FROM marts.ctr_by_position WHERE list_contains($days, day);
