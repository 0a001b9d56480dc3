"""Records: the storage interface, its SQL and cached implementations, the schema, moves between databases."""
