-- imgate embedded schema, version 2 -> 3: receives find in-flight messages through an index
-- instead of scanning every queued message. Only adds indexes.

CREATE INDEX queue_messages_by_visible ON queue_messages (visible_at);
CREATE INDEX queue_dead_letters_by_visible ON queue_dead_letters (visible_at);
