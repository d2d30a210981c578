DELETE FROM marts.conversion_rates WHERE list_contains($days, day);
