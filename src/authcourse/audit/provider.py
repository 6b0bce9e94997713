"""Authorization servers."""
