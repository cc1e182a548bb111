"""Development tools: the local chain, `make run`, demo data. Never imported by the app."""
