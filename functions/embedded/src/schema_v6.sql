-- imgate embedded schema, version 5 -> 6: who may use a trigger's agent, and which other agents
-- a conversation may switch to. Only adds columns, so a version-5 database keeps every row
-- (NULL: everyone may; no other agents).

-- The trigger's allowlists and refusal (imgate_core::trigger::Access) as JSON.
ALTER TABLE triggers ADD COLUMN access TEXT;

-- The other agents a conversation may move to with /switch, as a JSON list of agent ids.
ALTER TABLE triggers ADD COLUMN agents TEXT;
