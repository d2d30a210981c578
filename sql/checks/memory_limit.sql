SELECT current_setting('memory_limit') AS memory_limit;
