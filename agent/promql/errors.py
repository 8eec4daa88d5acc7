"""The two ways a PromQL expression can fail: at parse time and at evaluation time."""


class PromQLError(Exception):
    """An expression that does not parse, or uses a construct tripwired does not support."""


class EvalError(Exception):
    """An expression that parsed but cannot be evaluated (many-to-many matching, duplicate labelsets, ...)."""
