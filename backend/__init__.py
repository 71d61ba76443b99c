"""Models: registry, loading (4-bit, adapters, Hub), cache and generation."""
