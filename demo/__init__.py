"""The embedded demo: generated benchmark data, the tiny LLaVA builder, the demo checkpoints and their results.

It lets the app, the evaluation and the unlearning baselines run offline and out
of the box. Code and what it makes live side by side: ``data/`` (the demo
benchmark, in the Hub dataset's layout), ``models/`` (the demo checkpoints),
``results/`` (their evaluated result files, the leaderboard's demo rows). The
demo may use every other wing of the project; none of them imports it (they
know only where its data lies). ``python -m demo --help`` rebuilds any of it.
"""
