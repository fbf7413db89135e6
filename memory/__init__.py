"""The episodic store: SQLite is the truth, FAISS a rebuildable index. No torch here."""
