"""Apply: decide steps (pure), interpret them, explain them; locks, lockfile and the audit journal."""
