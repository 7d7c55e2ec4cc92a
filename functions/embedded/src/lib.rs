//! SQLite implementation of the imgate ports, with a durable queue, for one machine.
