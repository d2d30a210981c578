-- The rows of select_document_ctr.sql, registered by the refresh as `document_ctr_rows`.
INSERT INTO marts.document_ctr BY NAME
SELECT * FROM document_ctr_rows;
