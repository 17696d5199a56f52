"""Session-scoped SAM2 model fixtures (exported tiny config, random weights)."""
