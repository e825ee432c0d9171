"""Market data (OHLCV candles) served to strategies and clients."""
