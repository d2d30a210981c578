-- Migration: quarantines written before raw.rejected_interactions had user_id (filled by
-- warehouse.ensure_quarantined_user_ids).
ALTER TABLE raw.rejected_interactions ADD COLUMN IF NOT EXISTS user_id VARCHAR;
