DELETE FROM marts.document_ctr;
