"""What a scored study gives a user: ranking tables, figures, a CSV export, predictions on new
data, and optuna-dashboard."""
