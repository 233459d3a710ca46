"""Rule message templates: Jinja2's immutable sandbox, on a checked subset of the language.

A template runs in every worker for every anomaly of its rule, so it must never stall or crash
one. `check` parses it (at most MAX_MESSAGE_LENGTH characters) and accepts only:

- text, `{{ expressions }}`, `{# comments #}`, and `{% if %}` / `{% elif %}` / `{% else %}`;
- variables, attribute and item access and slices (`group.source`, `group['payload.host']`),
  never of a name starting with `_`;
- literals, comparisons, `and` / `or` / `not`, `in`, `a if b else c`, `~`, `+ - * / // %`,
  and `is` tests from ALLOWED_TESTS;
- filters from ALLOWED_FILTERS, with literal arguments (strings up to 100 characters).

Refused: loops, macros, call blocks, `set`, `with`, filter blocks, include / import / extends /
blocks, every call (`range(…)`, `'x'.ljust(…)`, `lipsum()`), `**`, multiplying or
`%`-formatting a string or list literal, and filters with a width (`center`, `indent`,
`wordwrap`, `format`). Without loops, calls or assignment each node runs at most once, so the work
is linear in the template's length. What could still grow a value is checked while rendering:
`*` and `%` take numbers only (a string may come through a variable), and a filter's input and
result are at most MAX_VALUE_CHARS long (a chain of `join`, `replace` or `tojson` would otherwise
grow geometrically). The check runs before compiling, as Jinja folds constants when compiling.

Undefined names, attributes and keys render empty (ChainableUndefined), and so does None.
Autoescaping is off: messages are plain text, and each notification channel escapes its own.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Final

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from eventpulse.application.messages import MAX_RENDERED_CHARS, MessageTemplateError, shorten
from eventpulse.domain.rules.document import MAX_MESSAGE_LENGTH

MAX_VALUE_CHARS: Final = 100_000
MAX_LITERAL_ARGUMENT: Final = 100
MAX_DEPTH: Final = 40

ALLOWED_FILTERS: Final = frozenset(
    {"abs", "capitalize", "count", "d", "default", "first", "float", "int", "join", "last"}
    | {"length", "lower", "max", "min", "replace", "round", "string", "sum", "title", "tojson"}
    | {"trim", "truncate", "upper"}
)
ALLOWED_TESTS: Final = frozenset(
    {"defined", "undefined", "none", "number", "integer", "float", "string", "mapping"}
    | {"sequence", "boolean", "true", "false", "even", "odd", "divisibleby", "lower", "upper"}
    | {"in", "eq", "ne", "lt", "le", "gt", "ge", "==", "!=", "<", "<=", ">", ">="}
    | {"equalto", "greaterthan", "lessthan", "sameas"}
)

_ALLOWED_NODES: Final[frozenset[type[nodes.Node]]] = frozenset(
    {nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.Name, nodes.Const}
    | {nodes.Tuple, nodes.List, nodes.Dict, nodes.Pair, nodes.Getattr, nodes.Getitem}
    | {nodes.Slice, nodes.Filter, nodes.Test, nodes.Keyword, nodes.CondExpr, nodes.Compare}
    | {nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Add}
    | {nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Concat}
)
_TOO_DEEP: Final = "the template is nested too deeply"
_REFUSED: Final[Mapping[type[nodes.Node], str]] = {
    nodes.For: "'for' loops are not allowed",
    nodes.Macro: "macros are not allowed",
    nodes.CallBlock: "call blocks are not allowed",
    nodes.Call: "calls are not allowed (such as range() or a method)",
    nodes.Pow: "the ** operator is not allowed",
    nodes.Assign: "'set' is not allowed",
    nodes.AssignBlock: "'set' is not allowed",
    nodes.With: "'with' blocks are not allowed",
    nodes.FilterBlock: "filter blocks are not allowed",
    nodes.Block: "blocks are not allowed",
    nodes.FromImport: "'import' is not allowed",
    nodes.Scope: "'autoescape' blocks are not allowed",
}


class JinjaMessageTemplates:
    """The MessageTemplates port; compiled templates are kept in a bounded LRU cache."""

    def __init__(self, cache_size: int = 256) -> None:
        self._env = _environment()
        self._compiled = functools.lru_cache(maxsize=cache_size)(self._compile)

    def check(self, template: str) -> str | None:
        compiled = self._lookup(template)
        return compiled if isinstance(compiled, str) else None

    def render(self, template: str, context: Mapping[str, Any]) -> str:
        compiled = self._lookup(template)
        if isinstance(compiled, str):
            raise MessageTemplateError(compiled)
        try:
            return _render(compiled, context)
        except Exception as exc:
            raise MessageTemplateError(_describe(exc)) from exc

    def _lookup(self, template: str) -> Template | str:
        if len(template) > MAX_MESSAGE_LENGTH:
            return f"the template is longer than {MAX_MESSAGE_LENGTH} characters"
        return self._compiled(template)

    def _compile(self, template: str) -> Template | str:
        """The compiled template, or why it is refused."""
        try:
            refusal = _refusal(self._env.parse(template))
            return refusal or self._env.from_string(template)
        except TemplateSyntaxError as exc:
            return f"line {exc.lineno}: {exc.message}"
        except RecursionError:
            return _TOO_DEEP
        except Exception as exc:  # not expected; still a refusal rather than a crash
            return f"the template cannot be compiled: {_describe(exc)}"


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "%", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" or not (_is_number(left) and _is_number(right)):
            raise SecurityError(f"the {operator} operator takes numbers only")
        return super().call_binop(context, operator, left, right)


def _environment() -> _Sandbox:
    env = _Sandbox(autoescape=False, undefined=ChainableUndefined, finalize=_none_as_empty)
    env.globals.clear()  # range, lipsum, dict, cycler, joiner, namespace
    env.filters = {name: _bounded(env.filters[name]) for name in ALLOWED_FILTERS}
    env.tests = {name: env.tests[name] for name in ALLOWED_TESTS}
    return env


def _refusal(template: nodes.Template) -> str | None:
    stack: list[tuple[nodes.Node, int, int]] = [(template, 0, 1)]  # node, depth, line
    while stack:
        node, depth, line = stack.pop()
        line = node.lineno or line  # some statements (`autoescape`) wrap nodes without a line
        reason = _node_refusal(node) or (_TOO_DEEP if depth > MAX_DEPTH else None)
        if reason:
            return f"line {line}: {reason}"
        children = [node.node] if isinstance(node, nodes.Filter) else node.iter_child_nodes()
        stack.extend((c, depth + 1, line) for c in reversed(list(children)) if c is not None)
    return None


def _node_refusal(node: nodes.Node) -> str | None:
    if type(node) not in _ALLOWED_NODES:
        return _REFUSED.get(type(node), f"'{type(node).__name__.lower()}' is not allowed")
    check = _CHECKS.get(type(node))
    return check(node) if check else None


def _getattr_refusal(node: nodes.Getattr) -> str | None:
    return f"attribute {node.attr!r} is not allowed" if node.attr.startswith("_") else None


def _getitem_refusal(node: nodes.Getitem) -> str | None:
    key = node.arg.value if isinstance(node.arg, nodes.Const) else None
    return f"item {key!r} is not allowed" if str(key).startswith("_") else None


def _filter_refusal(node: nodes.Filter) -> str | None:
    if node.name not in ALLOWED_FILTERS:
        return f"filter {node.name!r} is not allowed"
    arguments = [*node.args, *(keyword.value for keyword in node.kwargs)]
    if node.dyn_args or node.dyn_kwargs or not all(map(_literal, arguments)):
        return f"the arguments of filter {node.name!r} must be literals"
    if any(isinstance(a, nodes.Const) and _long(a.value) for a in arguments):
        return f"filter arguments are limited to {MAX_LITERAL_ARGUMENT} characters"
    return None


def _test_refusal(node: nodes.Test) -> str | None:
    if node.name not in ALLOWED_TESTS:
        return f"test {node.name!r} is not allowed"
    return "*args and **kwargs are not allowed" if node.dyn_args or node.dyn_kwargs else None


def _mul_refusal(node: nodes.Mul) -> str | None:
    if _sequence(node.left) or _sequence(node.right):
        return "multiplying a string or a list is not allowed"
    return None


def _mod_refusal(node: nodes.Mod) -> str | None:
    return "'%' formatting is not allowed" if _sequence(node.left) else None


_CHECKS: Final[Mapping[type[nodes.Node], Callable[[Any], str | None]]] = {
    nodes.Getattr: _getattr_refusal,
    nodes.Getitem: _getitem_refusal,
    nodes.Filter: _filter_refusal,
    nodes.Test: _test_refusal,
    nodes.Mul: _mul_refusal,
    nodes.Mod: _mod_refusal,
}


def _literal(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Neg | nodes.Pos):
        return isinstance(node.node, nodes.Const) and _is_number(node.node.value)
    return isinstance(node, nodes.Const)


def _long(value: Any) -> bool:
    return isinstance(value, str) and len(value) > MAX_LITERAL_ARGUMENT


def _sequence(node: nodes.Node) -> bool:
    return isinstance(node, nodes.List | nodes.Tuple) or (
        isinstance(node, nodes.Const) and isinstance(node.value, str)
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)


def _bounded(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` with its input and result limited to MAX_VALUE_CHARS."""
    position = 1 if hasattr(function, "jinja_pass_arg") else 0  # after context/environment

    @functools.wraps(function)  # also copies `jinja_pass_arg`
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if len(args) > position and _size(args[position]) > MAX_VALUE_CHARS:
            raise SecurityError(f"a filter's input is longer than {MAX_VALUE_CHARS}")
        result = function(*args, **kwargs)
        if _size(result) > MAX_VALUE_CHARS:
            raise SecurityError(f"a filter's result is longer than {MAX_VALUE_CHARS}")
        return result

    return bounded


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 0


def _none_as_empty(value: Any) -> Any:
    return "" if value is None else value


def _render(template: Template, context: Mapping[str, Any]) -> str:
    pieces: list[str] = []
    size = 0
    for piece in template.generate(dict(context)):
        pieces.append(piece)
        size += len(piece)
        if size > MAX_RENDERED_CHARS:
            break
    return shorten("".join(pieces))


def _describe(exc: Exception) -> str:
    """One line: the template line that failed (when known) and the error."""
    text = shorten(" ".join(str(exc).split()) or type(exc).__name__, 300)
    lines = [
        f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"
    ]
    return f"line {lines[-1]}: {text}" if lines else text
