DELETE FROM marts.position_bias;
