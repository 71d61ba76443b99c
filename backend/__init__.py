"""Models: registry, loading (4-bit, adapters, Hub), cache, generation, the one model seam and its fakes.

Imports nothing else of the project.
"""
