-- The gate's decision code per action, so the agent reads it from a column instead of out of
-- the result JSON; filled from the results written before it existed.
ALTER TABLE actions ADD COLUMN gate TEXT;
UPDATE actions SET gate = (result::jsonb) ->> 'gate' WHERE result IS NOT NULL AND left(result, 1) = '{';
