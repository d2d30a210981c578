DELETE FROM marts.search_ctr WHERE list_contains($days, day);
