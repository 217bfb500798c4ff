"""Training a study: launch (plan and enqueue), the trial ledger on Optuna, the run, its
workers and each trial's training job in a process of its own, and the study's status."""
