"""kerazoo's transfer-learning toolkit: data, features, fine-tuning, imbalance and ensembles.

Only the command line (`transfer.cli`, the ``kerazoo`` console script) exists so far.
"""
