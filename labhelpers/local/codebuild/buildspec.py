"""Parse a CodeBuild buildspec (versions 0.1 and 0.2) into plain dataclasses.

Errors name the file, the 1-based line and the setting at fault, the way a learner needs to fix
them: ``buildspec.yml line 7: phases.build.commands must be a list of strings``.
Sections the local runner does not use (cache, proxy) are accepted and ignored; `batch` is read by
batchspec when StartBuildBatch starts a batch, and ignored by the builds it runs. A build needs phases.
"""

import re
from dataclasses import dataclass, field
from typing import NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..yamlerrors import describe

PHASE_NAMES = ("install", "pre_build", "build", "post_build")
VERSIONS = ("0.1", "0.2")
SHELLS = ("bash", "/bin/bash", "sh", "/bin/sh")
ON_FAILURE_ACTIONS = ("ABORT", "CONTINUE", "RETRY")
DEFAULT_RETRIES = 3
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TRUE = {"yes", "true", "on"}
_FALSE = {"no", "false", "off"}
BATCH_REFUSAL = (
    "batch: this buildspec has a batch section and no phases. Start it with StartBuildBatch "
    "(aws codebuild start-build-batch); each build of the batch needs phases, in this buildspec or in the "
    "buildspec its batch entry names"
)
_IGNORED_SECTIONS = {"cache", "batch", "proxy"}
_TOP_KEYS = {
    "version",
    "run-as",
    "env",
    "environment_variables",
    "phases",
    "artifacts",
    "reports",
    *_IGNORED_SECTIONS,
}
TEST_FORMATS = ("JUNITXML", "CUCUMBERJSON", "TESTNGXML", "VISUALSTUDIOTRX", "NUNITXML", "NUNIT3XML")
COVERAGE_FORMATS = ("CLOVERXML", "COBERTURAXML", "JACOCOXML", "SIMPLECOV")
_REPORT_KEYS = {"files", "base-directory", "discard-paths", "file-format"}
_ENV_KEYS = {
    "shell",
    "variables",
    "parameter-store",
    "secrets-manager",
    "exported-variables",
    "git-credential-helper",
}
_PHASE_KEYS = {"run-as", "on-failure", "runtime-versions", "commands", "finally"}
_ARTIFACT_KEYS = {
    "files",
    "name",
    "discard-paths",
    "base-directory",
    "exclude-paths",
    "enable-symlinks",
    "s3-prefix",
}


class BuildspecError(ValueError):
    """A buildspec that CodeBuild would refuse; str() reads '<filename> line <n>: <reason>'."""

    def __init__(self, filename: str, line: int, reason: str, column: int | None = None):
        where = f"line {line}" if column is None else f"line {line}, column {column}"
        super().__init__(f"{filename} {where}: {reason}")
        self.filename = filename
        self.line = line
        self.column = column
        self.reason = reason


@dataclass(frozen=True)
class Env:
    variables: dict[str, str] = field(default_factory=dict)
    parameter_store: dict[str, str] = field(default_factory=dict)
    secrets_manager: dict[str, str] = field(default_factory=dict)
    exported_variables: tuple[str, ...] = ()
    shell: str | None = None
    git_credential_helper: bool = False


@dataclass(frozen=True)
class OnFailure:
    """What to do when a phase fails: ABORT, CONTINUE, or RETRY `retries` times while `pattern` matches."""

    action: str
    retries: int = 0
    pattern: str = ".*"


@dataclass(frozen=True)
class Phase:
    commands: tuple[str, ...] = ()
    finally_commands: tuple[str, ...] = ()
    on_failure: OnFailure | None = None
    runtime_versions: dict[str, str] = field(default_factory=dict)
    run_as: str | None = None


@dataclass(frozen=True)
class ArtifactSpec:
    files: tuple[str, ...] = ()
    name: str | None = None
    base_directory: str | None = None
    discard_paths: bool = False
    exclude_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportSpec:
    """One entry of `reports`: a report group name (or ARN) and the files of its report."""

    files: tuple[str, ...]
    base_directory: str | None = None
    discard_paths: bool = False
    file_format: str = "JUNITXML"


@dataclass(frozen=True)
class Buildspec:
    version: str
    env: Env = field(default_factory=Env)
    phases: dict[str, Phase] = field(default_factory=dict)
    artifacts: ArtifactSpec | None = None
    secondary_artifacts: dict[str, ArtifactSpec] = field(default_factory=dict)
    reports: dict[str, ReportSpec] = field(default_factory=dict)
    run_as: str | None = None
    warnings: tuple[str, ...] = ()  # unknown keys, reported and ignored


def load(text: str, filename: str = "buildspec.yml") -> Buildspec:
    """Parse buildspec YAML text; raise BuildspecError with the line of the first problem."""
    return Parser(filename).buildspec(compose(text, filename))


def compose(text: str, filename: str) -> Node:
    """The buildspec's YAML node tree; BuildspecError (with the line) if it is not YAML or empty."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line, column, reason = describe(text, exc, "buildspec")
        raise BuildspecError(filename, line, reason, column) from exc
    except yaml.YAMLError as exc:
        raise BuildspecError(filename, 1, f"invalid YAML: {exc}") from exc
    if root is None:
        raise BuildspecError(filename, 1, "the buildspec is empty; it needs at least version and phases")
    return root


class Parser:
    """Walks the YAML node tree, so every finding can point at its line (batchspec reads `batch` with it)."""

    def __init__(self, filename: str):
        self.filename = filename
        self.warnings: list[tuple[int, str]] = []

    def fail(self, node: Node, reason: str) -> NoReturn:
        raise BuildspecError(self.filename, node.start_mark.line + 1, reason)

    def buildspec(self, root: Node) -> Buildspec:
        top = self.mapping(root, "the buildspec", _TOP_KEYS)
        if "version" not in top:
            self.fail(root, "version is required (use version: 0.2)")
        version_node = top["version"][1]
        version = self.string(version_node, "version")
        if version not in VERSIONS:
            self.fail(version_node, f"version must be 0.2 (or the legacy 0.1), not {version!r}")
        if "phases" not in top and "batch" in top:
            self.fail(top["batch"][0], BATCH_REFUSAL)
        if "phases" not in top:
            self.fail(root, "phases is required")
        env = Env()
        if "env" in top:
            env = self.env(top["env"][1])
        elif "environment_variables" in top:  # version 0.1's name for env/variables
            env = Env(variables=self.legacy_variables(top["environment_variables"][1]))
        primary, secondary = self.artifacts(top["artifacts"][1]) if "artifacts" in top else (None, {})
        return Buildspec(
            version=version,
            env=env,
            phases=self.phases(top["phases"][1]),
            artifacts=primary,
            secondary_artifacts=secondary,
            reports=self.reports(top["reports"][1]) if "reports" in top else {},
            run_as=self.optional_string(top, "run-as", "run-as"),
            warnings=tuple(message for _line, message in sorted(self.warnings)),
        )

    # -- sections ---------------------------------------------------------------------------------

    def env(self, node: Node) -> Env:
        keys = self.mapping(node, "env", _ENV_KEYS)
        shell = self.optional_string(keys, "shell", "env.shell")
        if shell is not None and shell not in SHELLS:
            self.fail(keys["shell"][1], f"env.shell must be bash or /bin/sh on Linux, not {shell!r}")
        variables, parameters, secrets = (
            self.variables(keys[key][1], f"env.{key}") if key in keys else {}
            for key in ("variables", "parameter-store", "secrets-manager")
        )
        exported = ()
        if "exported-variables" in keys:
            exported_node = keys["exported-variables"][1]
            exported = self.strings(exported_node, "env.exported-variables")
            for name in exported:
                self.check_exportable(exported_node, name, parameters, secrets)
        helper = keys.get("git-credential-helper")
        return Env(
            variables=variables,
            parameter_store=parameters,
            secrets_manager=secrets,
            exported_variables=exported,
            shell=shell,
            git_credential_helper=self.flag(helper[1], "env.git-credential-helper") if helper else False,
        )

    def check_exportable(self, node: Node, name: str, parameters: dict, secrets: dict) -> None:
        where = "env.exported-variables"
        if not _VARIABLE_NAME.match(name):
            self.fail(node, f"{where}: {name!r} is not a valid variable name")
        if name.startswith("AWS_"):
            self.fail(node, f"{where}: {name} cannot be exported (names starting with AWS_ are reserved)")
        if name in parameters or name in secrets:
            self.fail(
                node, f"{where}: {name} is a secret (parameter-store/secrets-manager), it cannot be exported"
            )

    def legacy_variables(self, node: Node) -> dict[str, str]:
        keys = self.mapping(node, "environment_variables", {"plaintext"})
        return (
            self.variables(keys["plaintext"][1], "environment_variables.plaintext")
            if "plaintext" in keys
            else {}
        )

    def phases(self, node: Node) -> dict[str, Phase]:
        if not isinstance(node, MappingNode):
            self.fail(node, "phases must be a mapping of install, pre_build, build and post_build")
        phases = {}
        for name, key_node, value in self.pairs(node, "phases"):
            if name not in PHASE_NAMES:
                self.fail(
                    key_node, f"phases.{name} is not a phase; use install, pre_build, build or post_build"
                )
            phases[name] = self.phase(name, key_node, value)
        return phases

    def phase(self, name: str, key_node: Node, node: Node) -> Phase:
        path = f"phases.{name}"
        if _is_null(node):
            keys = {}
        else:
            keys = self.mapping(node, path, _PHASE_KEYS)
        if "commands" not in keys and name != "install":
            self.fail(key_node, f"{path}.commands is required")
        runtimes = keys.get("runtime-versions")
        return Phase(
            commands=self.strings(keys["commands"][1], f"{path}.commands") if "commands" in keys else (),
            finally_commands=self.strings(keys["finally"][1], f"{path}.finally") if "finally" in keys else (),
            on_failure=self.on_failure(keys["on-failure"][1], path) if "on-failure" in keys else None,
            runtime_versions=self.variables(runtimes[1], f"{path}.runtime-versions") if runtimes else {},
            run_as=self.optional_string(keys, "run-as", f"{path}.run-as"),
        )

    def on_failure(self, node: Node, path: str) -> OnFailure:
        text = self.string(node, f"{path}.on-failure")
        action, _, rest = text.partition("-")
        action = action.upper()
        if action not in ON_FAILURE_ACTIONS or (rest and action != "RETRY"):
            self.fail(
                node,
                f"{path}.on-failure must be ABORT, CONTINUE, RETRY or RETRY-<count>-<regex>, not {text!r}",
            )
        if action != "RETRY":
            return OnFailure(action)
        count, _, pattern = rest.partition("-")
        if not count.isdigit():  # RETRY-<regex>: the regex may itself contain '-'
            count, pattern = "", rest
        retries = int(count) if count else DEFAULT_RETRIES
        if retries > 100:
            self.fail(node, f"{path}.on-failure: the retry count must be between 0 and 100, not {retries}")
        pattern = pattern[1:-1] if len(pattern) > 1 and pattern[0] == pattern[-1] == "/" else pattern
        try:
            re.compile(pattern)
        except re.error as exc:
            self.fail(node, f"{path}.on-failure: invalid regular expression {pattern!r}: {exc}")
        return OnFailure("RETRY", retries, pattern or ".*")

    def artifacts(self, node: Node) -> tuple[ArtifactSpec | None, dict[str, ArtifactSpec]]:
        keys = self.mapping(node, "artifacts", {*_ARTIFACT_KEYS, "secondary-artifacts"})
        secondary = {}
        if "secondary-artifacts" in keys:
            container = keys["secondary-artifacts"][1]
            if not isinstance(container, MappingNode):
                self.fail(
                    container, "artifacts.secondary-artifacts must map artifact identifiers to artifacts"
                )
            for identifier, key_node, value in self.pairs(container, "artifacts.secondary-artifacts"):
                path = f"artifacts.secondary-artifacts.{identifier}"
                secondary[identifier] = self.artifact(
                    value, key_node, path, self.mapping(value, path, _ARTIFACT_KEYS)
                )
        if "files" not in keys and not secondary:
            self.fail(node, "artifacts.files is required")
        primary = self.artifact(node, node, "artifacts", keys) if "files" in keys else None
        return primary, secondary

    def artifact(self, node: Node, key_node: Node, path: str, keys: dict) -> ArtifactSpec:
        if "files" not in keys:
            self.fail(key_node, f"{path}.files is required")
        discard = keys.get("discard-paths")
        if "enable-symlinks" in keys:
            self.flag(keys["enable-symlinks"][1], f"{path}.enable-symlinks")
        return ArtifactSpec(
            files=self.strings(keys["files"][1], f"{path}.files"),
            name=self.optional_string(keys, "name", f"{path}.name"),
            base_directory=self.optional_string(keys, "base-directory", f"{path}.base-directory"),
            discard_paths=self.flag(discard[1], f"{path}.discard-paths") if discard else False,
            exclude_paths=self.strings(keys["exclude-paths"][1], f"{path}.exclude-paths")
            if "exclude-paths" in keys
            else (),
        )

    def reports(self, node: Node) -> dict[str, ReportSpec]:
        if not isinstance(node, MappingNode):
            self.fail(node, "reports must map report group names (or ARNs) to their files")
        reports = {}
        for name, key_node, value in self.pairs(node, "reports"):
            path = f"reports.{name}"
            keys = self.mapping(value, path, _REPORT_KEYS)
            if "files" not in keys:
                self.fail(key_node, f"{path}.files is required")
            file_format = (
                self.optional_string(keys, "file-format", f"{path}.file-format") or "JUNITXML"
            ).upper()
            if file_format not in TEST_FORMATS + COVERAGE_FORMATS:
                formats = ", ".join(TEST_FORMATS + COVERAGE_FORMATS)
                self.fail(keys["file-format"][1], f"{path}.file-format must be one of {formats}")
            discard = keys.get("discard-paths")
            reports[name] = ReportSpec(
                files=self.strings(keys["files"][1], f"{path}.files"),
                base_directory=self.optional_string(keys, "base-directory", f"{path}.base-directory"),
                discard_paths=self.flag(discard[1], f"{path}.discard-paths") if discard else False,
                file_format=file_format,
            )
        return reports

    # -- node helpers -----------------------------------------------------------------------------

    def pairs(self, node: MappingNode, path: str) -> list[tuple[str, Node, Node]]:
        """(key, key node, value node) of a mapping; keys must be unique strings."""
        seen: dict[str, Node] = {}
        result = []
        for key_node, value in node.value:
            if not isinstance(key_node, ScalarNode):
                self.fail(key_node, f"{path} has a key that is not a name")
            key = key_node.value
            if key in seen:
                first = seen[key].start_mark.line + 1
                self.fail(key_node, f"{_join(path, key)} is defined twice (first on line {first})")
            seen[key] = key_node
            result.append((key, key_node, value))
        return result

    def mapping(self, node: Node, path: str, known: set[str]) -> dict[str, tuple[Node, Node]]:
        """The mapping's entries by key; unknown keys become warnings."""
        if not isinstance(node, MappingNode):
            self.fail(node, f"{path} must be a mapping of settings")
        prefix = "" if path == "the buildspec" else path
        entries = {}
        for key, key_node, value in self.pairs(node, prefix):
            if key in known:
                entries[key] = (key_node, value)
            else:
                line = key_node.start_mark.line + 1
                message = f"{self.filename} line {line}: unknown key {_join(prefix, key)} (ignored)"
                self.warnings.append((line, message))
        return entries

    def string(self, node: Node, path: str) -> str:
        if not isinstance(node, ScalarNode) or _is_null(node):
            self.fail(node, f"{path} must be a string")
        return node.value

    def optional_string(self, keys: dict, key: str, path: str) -> str | None:
        if key not in keys or _is_null(keys[key][1]):
            return None
        return self.string(keys[key][1], path)

    def strings(self, node: Node, path: str) -> tuple[str, ...]:
        """A list of strings; a single string counts as a one-item list (CodeBuild accepts both)."""
        if isinstance(node, ScalarNode) and not _is_null(node):
            return (node.value,)
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{path} must be a list of strings")
        for index, item in enumerate(node.value):
            if not isinstance(item, ScalarNode) or _is_null(item):
                found = "an empty item" if _is_null(item) else f"a {_kind(item)}"
                hint = (
                    " (put quotes around a command that contains ': ')"
                    if isinstance(item, MappingNode)
                    else ""
                )
                self.fail(item, f"{path} must be a list of strings; item {index + 1} is {found}{hint}")
        return tuple(item.value for item in node.value)

    def variables(self, node: Node, path: str) -> dict[str, str]:
        """A mapping of names to string values, as written (an empty value is '')."""
        if _is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            self.fail(node, f"{path} must be a mapping of names to values")
        result = {}
        for key, _key_node, value in self.pairs(node, path):
            result[key] = "" if _is_null(value) else self.string(value, _join(path, key))
        return result

    def flag(self, node: Node, path: str) -> bool:
        text = self.string(node, path).lower()
        if text not in _TRUE | _FALSE:
            self.fail(node, f"{path} must be yes or no, not {node.value!r}")
        return text in _TRUE


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _kind(node: Node) -> str:
    return {MappingNode: "mapping", SequenceNode: "list"}.get(type(node), "value")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
