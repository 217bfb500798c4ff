"""Search space, planning, dispatch, the trial job, the scoring stage and the CLI."""
