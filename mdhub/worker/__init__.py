"""Workers: claim queued jobs with a lease, keep it alive, and run them through the engine."""
