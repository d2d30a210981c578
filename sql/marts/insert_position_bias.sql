-- The fitted curves, computed in Python (pipelines/estimators/position_bias.py) and registered as a frame.
INSERT INTO marts.position_bias BY NAME
SELECT * FROM position_bias_fit;
