"""The study database: schema, storage and queries (the only place SQL lives)."""
