"""Running the benchmark on models: the runner, the evaluate command line, and the live probe with its tab.

Imports the benchmark and the backend (through its one model seam); never the leaderboard.
"""
