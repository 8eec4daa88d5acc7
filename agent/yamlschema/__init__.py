"""One YAML schema layer for every file a user writes: config, rule files, rule-test files, routing tests.

document.py composes the YAML into nodes that keep line and column and words the errors
(`file:line[:column]: field.path: message`, one SchemaError for all of a file's mistakes);
walk.py reads nodes as a schema expects them; build.py builds frozen dataclasses from them,
the dataclass being the schema.
"""

from agent.yamlschema.build import Builder, node_error
from agent.yamlschema.document import (
    CONFIG_STYLE,
    PROMTOOL_STYLE,
    Report,
    SchemaError,
    Style,
    compose,
    find,
    has_content,
    locate,
    read_document,
)
from agent.yamlschema.walk import Walker, is_null, join, kind

__all__ = [
    "CONFIG_STYLE",
    "PROMTOOL_STYLE",
    "Builder",
    "Report",
    "SchemaError",
    "Style",
    "Walker",
    "compose",
    "find",
    "has_content",
    "is_null",
    "join",
    "kind",
    "locate",
    "node_error",
    "read_document",
]
