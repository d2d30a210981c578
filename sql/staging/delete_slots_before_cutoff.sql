DELETE FROM staging.result_slots WHERE execution_date < $cutoff;
