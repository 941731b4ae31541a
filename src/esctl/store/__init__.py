"""Event stores: the interface, the in-memory reference store and the SQLite store."""
