"""The `batch` section of a buildspec: the builds a batch runs (build-list, build-matrix, build-graph).

Each build of the batch is a BatchEntry: its identifier, the buildspec it runs (None: the batch's own), the
environment it overrides and the entries it waits for. A build matrix makes one entry per combination of its
dynamic values, named build1, build2, ... in the order the combinations are listed. Errors are
BuildspecErrors with the line at fault, as the buildspec's own.
"""

import itertools
import re
from dataclasses import dataclass, field

from yaml.nodes import MappingNode, Node, SequenceNode

from .buildspec import Parser, compose
from .projects import enum_values

BATCH_KINDS = ("build-list", "build-matrix", "build-graph", "build-fanout")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,126}\Z")
_ENTRY_KEYS = {"identifier", "buildspec", "env", "ignore-failure", "debug-session", "depend-on"}
_ENV_KEYS = {"compute-type", "image", "privileged-mode", "type", "variables"}  # no fleets locally
_MATRIX_KEYS = {"static", "dynamic"}
_STATIC_KEYS = {"ignore-failure", "env", "debug-session"}
_DYNAMIC_KEYS = {"buildspec", "env"}


@dataclass(frozen=True)
class EnvOverride:
    """What one build of the batch changes in the project's environment (None: the project's)."""

    compute_type: str | None = None
    image: str | None = None
    environment_type: str | None = None
    privileged_mode: bool | None = None
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchEntry:
    identifier: str
    buildspec: str | None = None
    env: EnvOverride = field(default_factory=EnvOverride)
    ignore_failure: bool = False
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchSpec:
    entries: tuple[BatchEntry, ...]
    fast_fail: bool = False


def load_batch(text: str, filename: str = "buildspec.yml") -> BatchSpec:
    """The batch section of buildspec text; BuildspecError if there is none or it is wrong."""
    root = compose(text, filename)
    return _BatchParser(filename).batch(root)


class _BatchParser(Parser):
    def batch(self, root: Node) -> BatchSpec:
        if not isinstance(root, MappingNode):
            self.fail(root, "the buildspec must be a mapping of settings")
        top = {key: (key_node, value) for key, key_node, value in self.pairs(root, "")}
        if "batch" not in top:
            self.fail(
                root,
                "batch is required to start a batch build: give the buildspec a batch section with "
                "build-list, build-matrix or build-graph (or start one build with StartBuild)",
            )
        key_node, node = top["batch"]
        keys = self.mapping(node, "batch", {"fast-fail", *BATCH_KINDS})
        kinds = [kind for kind in BATCH_KINDS if kind in keys]
        if len(kinds) != 1:
            found = f"it has {' and '.join(kinds)}" if kinds else "it has none"
            self.fail(
                key_node, f"batch needs exactly one of build-list, build-matrix or build-graph ({found})"
            )
        kind = kinds[0]
        kind_node = keys[kind][1]
        if kind == "build-fanout":
            self.fail(
                keys[kind][0],
                "batch.build-fanout (test splitting) is not run by the local endpoint; use build-list, "
                "build-matrix or build-graph, or run fan-out batches on AWS with LAB_BACKEND=aws",
            )
        if kind == "build-matrix":
            entries = self.matrix(kind_node)
        else:
            entries = self.entries(kind_node, f"batch.{kind}", graph=kind == "build-graph")
        fast_fail = keys.get("fast-fail")
        return BatchSpec(
            entries=tuple(entries),
            fast_fail=self.flag(fast_fail[1], "batch.fast-fail") if fast_fail else False,
        )

    # -- build-list and build-graph ----------------------------------------------------------------

    def entries(self, node: Node, path: str, *, graph: bool) -> list[BatchEntry]:
        if not isinstance(node, SequenceNode) or not node.value:
            self.fail(node, f"{path} must be a list of builds, each with an identifier")
        entries, lines = [], {}
        for index, item in enumerate(node.value):
            where = f"{path}[{index + 1}]"
            keys = self.mapping(item, where, _ENTRY_KEYS if graph else _ENTRY_KEYS - {"depend-on"})
            if "identifier" not in keys:
                self.fail(item, f"{where}.identifier is required")
            identifier_node = keys["identifier"][1]
            identifier = self.string(identifier_node, f"{where}.identifier")
            if not _IDENTIFIER.match(identifier):
                self.fail(
                    identifier_node,
                    f"{where}.identifier {identifier!r} must start with a letter and have only letters, "
                    "digits and underscores (at most 127)",
                )
            if identifier in lines:
                self.fail(
                    identifier_node,
                    f"{path}: identifier {identifier} is used twice (first on line {lines[identifier]})",
                )
            lines[identifier] = identifier_node.start_mark.line + 1
            ignore = keys.get("ignore-failure")
            entries.append(
                BatchEntry(
                    identifier=identifier,
                    buildspec=self.optional_string(keys, "buildspec", f"{where}.buildspec"),
                    env=self.env(keys["env"][1], f"{where}.env") if "env" in keys else EnvOverride(),
                    ignore_failure=self.flag(ignore[1], f"{where}.ignore-failure") if ignore else False,
                    depends_on=self.strings(keys["depend-on"][1], f"{where}.depend-on")
                    if "depend-on" in keys
                    else (),
                )
            )
        if graph:
            self.check_graph(node, path, entries)
        return entries

    def check_graph(self, node: Node, path: str, entries: list[BatchEntry]) -> None:
        known = {entry.identifier for entry in entries}
        for entry in entries:
            missing = [name for name in entry.depends_on if name not in known]
            if missing:
                self.fail(
                    node,
                    f"{path}: {entry.identifier} depends on {', '.join(missing)}, which is not a "
                    "build of the graph",
                )
        waiting = {entry.identifier: set(entry.depends_on) for entry in entries}
        while waiting:
            ready = [name for name, needs in waiting.items() if not needs & waiting.keys()]
            if not ready:
                self.fail(
                    node,
                    f"{path}: the builds {', '.join(sorted(waiting))} depend on each other in a "
                    "cycle, so none of them could start",
                )
            for name in ready:
                waiting.pop(name)

    def env(self, node: Node, path: str) -> EnvOverride:
        keys = self.mapping(node, path, _ENV_KEYS)
        privileged = keys.get("privileged-mode")
        return EnvOverride(
            compute_type=self.choice(keys, "compute-type", path, "ComputeType"),
            image=self.optional_string(keys, "image", f"{path}.image"),
            environment_type=self.choice(keys, "type", path, "EnvironmentType"),
            privileged_mode=self.flag(privileged[1], f"{path}.privileged-mode") if privileged else None,
            variables=self.variables(keys["variables"][1], f"{path}.variables")
            if "variables" in keys
            else {},
        )

    def choice(self, keys: dict, key: str, path: str, shape: str) -> str | None:
        value = self.optional_string(keys, key, f"{path}.{key}")
        if value is not None and value not in enum_values(shape):
            self.fail(
                keys[key][1], f"{path}.{key} must be one of {', '.join(enum_values(shape))}, not {value!r}"
            )
        return value

    # -- build-matrix ------------------------------------------------------------------------------

    def matrix(self, node: Node) -> list[BatchEntry]:
        path = "batch.build-matrix"
        keys = self.mapping(node, path, _MATRIX_KEYS)
        static = self.mapping(keys["static"][1], f"{path}.static", _STATIC_KEYS) if "static" in keys else {}
        base = self.env(static["env"][1], f"{path}.static.env") if "env" in static else EnvOverride()
        ignore = static.get("ignore-failure")
        ignore_failure = self.flag(ignore[1], f"{path}.static.ignore-failure") if ignore else False
        if "dynamic" not in keys:
            self.fail(node, f"{path}.dynamic is required: the values whose combinations make the builds")
        dynamic = self.mapping(keys["dynamic"][1], f"{path}.dynamic", _DYNAMIC_KEYS)
        axes: list[list[tuple[str, str]]] = []
        if "buildspec" in dynamic:
            axes.append(
                [
                    ("buildspec", value)
                    for value in self.values(dynamic["buildspec"][1], f"{path}.dynamic.buildspec")
                ]
            )
        if "env" in dynamic:
            env_path = f"{path}.dynamic.env"
            env_keys = self.mapping(dynamic["env"][1], env_path, _ENV_KEYS - {"privileged-mode"})
            for key in ("compute-type", "image", "type"):
                if key in env_keys:
                    values = self.values(env_keys[key][1], f"{env_path}.{key}")
                    shape = {"compute-type": "ComputeType", "type": "EnvironmentType"}.get(key)
                    for value in values:
                        if shape and value not in enum_values(shape):
                            self.fail(
                                env_keys[key][1],
                                f"{env_path}.{key}: {value!r} is not one of {', '.join(enum_values(shape))}",
                            )
                    axes.append([(key, value) for value in values])
            if "variables" in env_keys:
                variables = env_keys["variables"][1]
                if not isinstance(variables, MappingNode):
                    self.fail(variables, f"{env_path}.variables must map names to lists of values")
                for name, _key_node, value in self.pairs(variables, f"{env_path}.variables"):
                    axes.append(
                        [
                            (f"variable:{name}", item)
                            for item in self.values(value, f"{env_path}.variables.{name}")
                        ]
                    )
        if not axes:
            self.fail(keys["dynamic"][1], f"{path}.dynamic needs buildspec or env values to combine")
        return [
            self.combination(index, dict(choice), base, ignore_failure)
            for index, choice in enumerate(itertools.product(*axes), start=1)
        ]

    def values(self, node: Node, path: str) -> tuple[str, ...]:
        values = self.strings(node, path)
        if not values:
            self.fail(node, f"{path} must list at least one value")
        return values

    @staticmethod
    def combination(
        index: int, choice: dict[str, str], base: EnvOverride, ignore_failure: bool
    ) -> BatchEntry:
        variables = {
            **base.variables,
            **{
                key.removeprefix("variable:"): value
                for key, value in choice.items()
                if key.startswith("variable:")
            },
        }
        return BatchEntry(
            identifier=f"build{index}",
            buildspec=choice.get("buildspec"),
            env=EnvOverride(
                compute_type=choice.get("compute-type", base.compute_type),
                image=choice.get("image", base.image),
                environment_type=choice.get("type", base.environment_type),
                privileged_mode=base.privileged_mode,
                variables=variables,
            ),
            ignore_failure=ignore_failure,
        )
