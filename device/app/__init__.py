"""Apps over the runtime: replay a session, the demo, `ami explain`, the spoken assistant (`ami ask`, `ami listen`)."""
