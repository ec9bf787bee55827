"""A stand-in for Colab's `google.colab` package, for testing the book off Colab.

Colab's kernel imports `google.colab` at start-up, so `"google.colab" in sys.modules` is
how a notebook knows it runs there; each chapter's first cell branches on it. The Colab
test (`make test-colab`) imports this package at kernel start so that branch really runs.
JAX imports `google.colab.output` when it sees Colab (for its debugger), hence `output`.
"""
