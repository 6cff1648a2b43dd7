"""Use cases: each owns its transaction (load, check, fire, write, audit, commit)."""
