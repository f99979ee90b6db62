"""`#{namespace.variable}` references in action configuration, resolved just before the action runs."""

import re

from .actions import ActionFailed
from .records import Execution

REFERENCE = re.compile(r"#\{([A-Za-z0-9@\-_]+)\.([A-Za-z0-9@\-_.]+)\}")


def scope(execution: Execution) -> dict[str, dict[str, str]]:
    values = {ns: dict(found) for ns, found in execution.namespaces.items()}
    values["codepipeline"] = {"PipelineExecutionId": execution.id}
    values["variables"] = {v["name"]: v["resolvedValue"] for v in execution.variables}
    return values


def resolve(configuration: dict, execution: Execution) -> dict:
    known = scope(execution)

    def substitute(match: re.Match) -> str:
        namespace, name = match.groups()
        try:
            return str(known[namespace][name])
        except KeyError:
            raise ActionFailed(
                f"The variable reference '{match.group(0)}' could not be resolved: namespace '{namespace}' "
                f"has no variable '{name}' in this execution.",
                code="ConfigurationError",
            ) from None

    return {
        key: REFERENCE.sub(substitute, value) if isinstance(value, str) else value
        for key, value in configuration.items()
    }


def pipeline_variables(declaration: dict, overrides: list[dict] | None) -> list[dict]:
    """Declared pipeline variables with their defaults, overridden by StartPipelineExecution's."""
    given = {v["name"]: v["value"] for v in overrides or []}
    declared = {v["name"]: v.get("defaultValue") for v in declaration.get("variables", [])}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(f"Variables {unknown} are not declared in the pipeline.")
    missing = sorted(name for name, value in declared.items() if value is None and name not in given)
    if missing:
        raise ValueError(f"Variables {missing} have no default value and must be given.")
    return [{"name": name, "resolvedValue": given.get(name, default)} for name, default in declared.items()]
