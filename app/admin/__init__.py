"""Finance department pages: onboard, list and revoke organisations; API tokens."""
