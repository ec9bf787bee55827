"""Stand-in for `google.colab.output`: JAX imports it on Colab; the book calls nothing in it."""


def eval_js(script, ignore_result=False, timeout_sec=None):  # pragma: no cover
    raise RuntimeError("google.colab.output is a stand-in: no browser is attached")
