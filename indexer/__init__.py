"""The Monad L1 indexer daemon (chain.md)."""
