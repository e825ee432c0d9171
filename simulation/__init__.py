"""`gr8d simulate`: realistic, reproducible activity through the real chain and the real API."""
