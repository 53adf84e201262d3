"""Licence maths: catalogue recognition, metric rules, coverage, reconcile, the Effective Licence Position."""
