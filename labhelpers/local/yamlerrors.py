"""YAML syntax errors in words a learner can act on, shared by the buildspec and AppSpec parsers.

`describe()` gives the 1-based line and column, then a hint and PyYAML's own detail:
``this is not valid YAML. <hint> (PyYAML: <context>, <problem>)``.
"""

import yaml


def describe(text: str, error: yaml.MarkedYAMLError, document: str) -> tuple[int, int, str]:
    """(line, column, reason) for `error` raised reading `text`; `document` names it in the hint."""
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    detail = ", ".join(part for part in (error.context, error.problem) if part) or "invalid YAML"
    return line, column, f"this is not valid YAML. {_hint(text, error, document)} (PyYAML: {detail})"


def _hint(text: str, error: yaml.MarkedYAMLError, document: str) -> str:
    problem = error.problem or ""
    if "{{" in text:
        return (
            "The text still holds {{placeholder}} templates: render them (fill in the values) before "
            f"using the {document}."
        )
    if "\t" in text and ("tab" in problem or "'\\t'" in problem):  # PyYAML shows a tab as '\t'
        return "YAML indents with spaces only: replace the tab characters with spaces."
    if "mapping values are not allowed" in problem:
        return "A value holds ': ' (colon and space): put quotes around it, or check the indentation above."
    if "expected <block end>" in problem or "expected <block" in (error.context or "") + problem:
        return "Check that this line is indented like the lines of the same block above it."
    if "found character" in problem or "found unexpected" in problem:
        return "A value starts with a character YAML reserves (such as @, ` or %): put quotes around it."
    return "Check the quoting and indentation at this place and just above it."
