"""One script per judge question; each writes a markdown report, a JSON file and a plot to ``bench/results/``."""
