"""The search space: a spec read and checked at the door, the plan of trials drawn from it, and
the space as Optuna distributions for the dashboard."""
