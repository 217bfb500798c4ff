"""Judging trained models: metrics, scoring one model, the scoring stage over a study, and the
ranking by validation score."""
