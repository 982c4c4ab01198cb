"""Prompt styles: how a problem's prompt is put to a model and how its answer comes back.

* ``completion`` (base models): the model continues the prompt as is; the answer is cut
  exactly where the first stop sequence begins (the Codex stops: ``\\nclass``, ``\\ndef``,
  ``\\n#``, ``\\nif``, ``\\nprint``).
* ``chat`` (instruct models): one user message asks to complete the function given in a
  fenced block; the backend applies the model's chat template.  Generation may end once
  the reply has closed its first fenced code block.  The code is taken from the reply's
  fenced block and re-assembled so that ``prompt + completion`` is a valid program: the
  body of the problem's function, re-indented to the prompt's indentation, then any
  imports, helper functions and classes the reply defined beside it.  The reply itself is
  kept as ``raw``.

``chat_messages(prompt)`` and ``extract_completion(prompt, reply)`` take only the prompt
text, so any backend (transformers, an OpenAI-compatible server) can use them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

COMPLETION, CHAT = "completion", "chat"
STYLES = (COMPLETION, CHAT)
INSTRUCTION = (
    "Complete the following Python function. Reply with the whole function, "
    "its signature included, in one ```python code block."
)
CHAT_VERSION = 1  # bump when the message or the extraction changes (it is part of the store key)

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+.-]*)[^\n]*$", re.M)
_TOP_DEF = re.compile(r"^(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(", re.M)
_TOP_NAME = re.compile(r"^(?:(?:async[ \t]+)?def|class)[ \t]+(\w+)", re.M)
_PY_LANGS = ("", "python", "py", "python3", "py3")


def resolve_style(requested: str, has_chat_template: bool) -> str:
    """``auto`` is ``chat`` when the tokenizer has a chat template, else ``completion``."""
    if requested in STYLES:
        return requested
    return CHAT if has_chat_template else COMPLETION


def find_stop(text: str, stop: Sequence[str], start: int = 0) -> int | None:
    """Index where the earliest stop sequence begins (searching from ``start``), or None."""
    hits = [i for i in (text.find(s, start) for s in stop if s) if i >= 0]
    return min(hits) if hits else None


def closed_fence_end(text: str) -> int | None:
    """End of the line that closes the reply's first fenced code block, or None."""
    fences = list(_FENCE.finditer(text))
    if len(fences) < 2:
        return None
    close = fences[1]
    if close.end() < len(text):  # the closing line is complete only once its newline is there
        return close.end() + 1
    return None


def stop_rule(style: str | None, stop: Sequence[str]):
    """``(text, first new char) -> cut index or None`` for a style: the end of the reply's first
    fenced block (chat), or the earliest stop sequence (completion)."""
    if style == CHAT:
        return lambda text, start: closed_fence_end(text)
    longest = max((len(s) for s in stop), default=1)
    return lambda text, start: find_stop(text, stop, max(0, start - longest + 1))


def chat_messages(prompt: str) -> list[dict]:
    return [{"role": "user", "content": f"{INSTRUCTION}\n\n```python\n{prompt.rstrip()}\n```"}]


def entry_point_of(prompt: str) -> str | None:
    """The function the prompt asks for: its last top-level ``def``."""
    names = _TOP_DEF.findall(prompt)
    return names[-1] if names else None


def body_indent(prompt: str) -> str:
    """The indentation of the prompt's last non-blank line (its docstring), else 4 spaces."""
    for line in reversed(prompt.splitlines()):
        if line.strip():
            indent = line[: len(line) - len(line.lstrip())]
            return indent or "    "
    return "    "


def fenced_blocks(reply: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block; an unclosed last block runs to the end."""
    fences = list(_FENCE.finditer(reply))
    blocks = []
    for i in range(0, len(fences), 2):
        opening = fences[i]
        end = fences[i + 1].start() if i + 1 < len(fences) else len(reply)
        blocks.append((opening.group(1).lower(), reply[opening.end() + 1 : end]))
    return blocks


def pick_code(reply: str, entry_point: str | None) -> str:
    """The code of the reply: the first Python fenced block defining the entry point, else
    the first Python block, else the first block, else the whole reply."""
    blocks = fenced_blocks(reply)
    if not blocks:
        return reply
    python = [code for lang, code in blocks if lang in _PY_LANGS] or [code for _, code in blocks]
    if entry_point:
        pattern = re.compile(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(entry_point)}[ \t]*\(", re.M)
        for code in python:
            if pattern.search(code):
                return code
    return python[0]


def _reindent(lines: list[str], width: int, indent: str) -> str:
    """Replace the first ``width`` columns of indentation by ``indent``."""
    out = []
    for line in lines:
        if not line.strip():
            out.append("")
            continue
        lead = len(line) - len(line.lstrip(" \t"))
        head = line[:lead].replace("\t", "    ")
        out.append(indent + head[min(width, len(head)) :] + line[lead:])
    return "\n".join(out)


def _col(line: str, col_offset: int) -> int:
    return len(line[:col_offset].replace("\t", "    "))


def _node_lines(lines: list[str], node: ast.stmt) -> str:
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "\n".join(lines[start - 1 : node.end_lineno])


def _from_ast(prompt: str, code: str, tree: ast.Module, entry_point: str | None, indent: str) -> str:
    lines = code.splitlines()
    fn = next(
        (n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == entry_point), None
    )
    if fn is None:  # no such function: the code is the body
        width = min((_col(lines[n.lineno - 1], n.col_offset) for n in tree.body), default=0)
        return _reindent(lines, width, indent) + "\n"
    body = fn.body
    if (
        len(body) > 1
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]  # the prompt has the docstring already
    first = body[0]
    if first.lineno == fn.lineno:  # def f(x): return x
        text_lines = [lines[first.lineno - 1][first.col_offset :]] + lines[first.lineno : fn.end_lineno]
        out = indent + text_lines[0].strip() + ("\n" + _reindent(text_lines[1:], 0, indent) if text_lines[1:] else "")
    else:
        out = _reindent(
            lines[first.lineno - 1 : fn.end_lineno], _col(lines[first.lineno - 1], first.col_offset), indent
        )
    defined = set(_TOP_NAME.findall(prompt))
    extras = []
    for node in tree.body:
        if node is fn:
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            extras.append(_node_lines(lines, node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name not in defined:
            extras.append(_node_lines(lines, node))
    return out + "\n" + ("\n" + "\n\n".join(extras) + "\n" if extras else "")


def _from_lines(code: str, entry_point: str | None, indent: str) -> str:
    """Fallback for code that does not parse: the lines under ``def <entry_point>``."""
    lines = code.splitlines()
    pattern = re.compile(rf"^([ \t]*)(?:async[ \t]+)?def[ \t]+{re.escape(entry_point or '')}[ \t]*\(")
    for i, line in enumerate(lines):
        m = pattern.match(line) if entry_point else None
        if not m:
            continue
        def_width = len(m.group(1).replace("\t", "    "))
        j = i
        while j < len(lines) and not lines[j].split("#")[0].rstrip().endswith(":"):
            j += 1  # a signature over several lines
        j += 1
        body = []
        for rest in lines[j:]:
            width = len(rest[: len(rest) - len(rest.lstrip())].replace("\t", "    "))
            if rest.strip() and width <= def_width:
                break
            body.append(rest)
        while body and not body[-1].strip():
            body.pop()
        widths = [len(ln[: len(ln) - len(ln.lstrip())].replace("\t", "    ")) for ln in body if ln.strip()]
        return _reindent(body, min(widths, default=0), indent) + "\n"
    widths = [len(ln[: len(ln) - len(ln.lstrip())].replace("\t", "    ")) for ln in lines if ln.strip()]
    return _reindent(lines, min(widths, default=0), indent) + "\n"


def extract_completion(prompt: str, reply: str) -> str:
    """The completion (``prompt + completion`` is the program) from an instruct model's reply."""
    entry_point = entry_point_of(prompt)
    code = pick_code(reply, entry_point)
    indent = body_indent(prompt)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return _from_lines(code, entry_point, indent)
    if not tree.body:
        return ""
    return _from_ast(prompt, code, tree, entry_point, indent)
