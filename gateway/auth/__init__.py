"""Who may call what: bearer tokens, scopes per route, organisations, rate limits (docs/SECURITY.md)."""
