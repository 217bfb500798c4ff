"""The TCN beta-VAE: model, training, naming and saving (no database)."""
