"""Business logic as keyword-only functions; resources stay thin and never touch providers directly."""
