"""Session-scoped GroundingDINO model fixtures (exported reduced config, random weights)."""
