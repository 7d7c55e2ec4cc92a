-- imgate embedded schema, version 6 -> 7: what a message that arrives while an answer runs does
-- (imgate_core::trigger::BusyPolicy). Only adds a column; NULL is the default policy, queue.

ALTER TABLE triggers ADD COLUMN busy TEXT;
