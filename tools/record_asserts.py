"""Record how close each comparison in an `assert` came to failing (for `make sweep`).

Loaded at kernel start by `pytest --book-record FILE` (conftest.py), never by the book
itself. An IPython AST transformer rewrites every comparison that an `assert` tests
(`a < b`, `a >= b`, chains, and comparisons joined by `and`) into a call that evaluates
the same operands once, in the same order, appends one JSON line per comparison to the
file named by MAML_BOOK_ASSERT_LOG, and returns the same truth value. The notebook's
behaviour is unchanged: an assert that fails still fails with its message.

Each line holds the comparison's source, both operands (when they are real numbers) and
its margin: how far the left operand could move towards the bound
before the comparison fails, relative to the bound (`(b - a) / |b|` for `a < b`). conftest.py writes a line naming
the notebook and code cell before each cell runs, so the lines after it are that cell's.
"""

import ast
import json
import math
import operator
import os

_LOG = os.environ.get("MAML_BOOK_ASSERT_LOG")
_OPS = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not,
}
_BOUNDS = {"Lt": 1, "LtE": 1, "Gt": -1, "GtE": -1}


def _number(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if isinstance(value, bool) or not math.isfinite(number):
        return None
    return number


def _record(source, operands, ops):
    """Evaluate `operands[0] ops[0] operands[1] ...` as Python would, recording each link."""
    result = True
    for i, name in enumerate(ops.split(",")):
        left, right = operands[i], operands[i + 1]
        outcome = _OPS[getattr(ast, name)](left, right)
        a, b = _number(left), _number(right)
        if _LOG and name in _BOUNDS and a is not None and b is not None:
            slack = _BOUNDS[name] * (b - a)
            margin = slack / abs(b) if b != 0 else slack
            with open(_LOG, "a") as log:
                log.write(json.dumps({
                    "source": source, "link": i,
                    "left": a, "right": b, "margin": margin,
                }) + "\n")
        if not outcome:
            return outcome
        result = outcome
    return result


class _Rewrite(ast.NodeTransformer):
    def visit_Assert(self, node):
        node.test = self._test(node.test)
        return node

    def _test(self, test):
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            test.values = [self._test(v) for v in test.values]
            return test
        if isinstance(test, ast.Compare):
            operands = [test.left, *test.comparators]
            call = ast.Call(
                func=ast.Name("__record_comparison__", ast.Load()),
                args=[
                    ast.Constant(ast.unparse(test)),
                    ast.List(operands, ast.Load()),
                    ast.Constant(",".join(type(op).__name__ for op in test.ops)),
                ],
                keywords=[],
            )
            return ast.copy_location(call, test)
        return test


def _load():
    ip = get_ipython()  # noqa: F821
    ip.user_ns["__record_comparison__"] = _record
    ip.ast_transformers.append(_Rewrite())


_load()
