"""Users and their ways in: passwords, tokens, sessions on Redis, wallets, credentials."""
