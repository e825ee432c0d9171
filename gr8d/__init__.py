"""gr8d: shared plumbing (configuration, logging, Redis, embedded servers, command line)."""
