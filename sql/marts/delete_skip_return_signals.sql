DELETE FROM marts.skip_return_signals WHERE list_contains($days, day);
