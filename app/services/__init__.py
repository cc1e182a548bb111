"""What the platform does, once, for pages, the API and the CLI alike: no HTTP in here (see errors.py)."""
