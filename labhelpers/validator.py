"""Validate a pipeline declaration as CreatePipeline / UpdatePipeline do, with JSON paths and hints.

Two passes over the declaration:

* the botocore service model: required members, types, unknown fields, lengths, patterns, enums and
  ranges, worded the way the service words them (Coral format, rule "model");
* the service's semantic rules S4-S27 of codepipeline-spec §1.2, in the spec's recommended order:
  structure, then each action, then references between actions, then triggers and tags.

`validate()` lists every finding; `service_error()` picks the one answer the service gives.
Messages quote AWS where the spec quotes it; the others are our wording (marked [INF] in the spec).
"""

import difflib
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from labhelpers import actiontypes

SOURCE = "Source"
MAX_STAGES = 50
MAX_ACTIONS_PER_STAGE = 50
MAX_ACTIONS_PER_PIPELINE = 500
MAX_TAGS = 50
RESERVED_NAMESPACES = ("codepipeline", "variables")
CODEPIPELINE_VARIABLES = ("PipelineExecutionId",)

# Rule ids in the order the service checks them (spec §1.2, "Ordering recommendation").
RULE_ORDER = (
    "S4", "S5", "S6", "S7", "S8", "S9", "S10", "S11", "S25",
    "S14", "S15", "S21", "S22", "S23", "S19",
    "S16", "S17", "S24", "S26", "S27",
)  # fmt: skip
_RULE_RANK = {rule: rank for rank, rule in enumerate(RULE_ORDER)}

VALIDATION = "ValidationException"
STRUCTURE = "InvalidStructureException"
STAGE = "InvalidStageDeclarationException"
ACTION = "InvalidActionDeclarationException"
SERIALIZATION = "SerializationException"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: where (`path`), what the service would answer (`code`, `message`) and what to do."""

    path: str
    code: str
    message: str
    hint: str = ""
    rule: str = ""  # "type", "model", "unknown" or a spec rule id such as "S17"

    def __str__(self) -> str:
        hint = f" Hint: {self.hint}" if self.hint else ""
        return f"{self.path or '(top level)'}: {self.message} [{self.code}]{hint}"


def validate(declaration, *, region: str | None = None, custom_types=None) -> list[Problem]:
    """Every problem of `declaration`: `{"pipeline": {...}, "tags": [...]}` or the bare pipeline object.

    `region` is the pipeline's Region when the caller knows it (the endpoint does); it enables the
    cross-region rules that need it. `custom_types(category, provider, version)` answers the account's
    custom action type (an `actiontypes.ActionType`) or None when the caller knows them (the endpoint
    does); without it any custom type is taken as declared. Never raises on malformed input.
    """
    if not isinstance(declaration, dict):
        return [_root_type_problem(declaration)]
    api_form = "pipeline" in declaration
    problems = _model_problems(declaration, api_form)
    pipeline = declaration.get("pipeline") if api_form else declaration
    if isinstance(pipeline, dict):
        tags = declaration.get("tags") if api_form else None
        problems.extend(_semantic_problems(_Context(pipeline, tags, region, custom_types)))
    return problems


def service_error(problems: Iterable[Problem]) -> tuple[str, str] | None:
    """The (exception type, message) the service answers for `problems`, or None when there are none.

    A body that does not deserialize fails first; then every model constraint together in Coral
    format; then the first semantic problem in the service's order. Deterministic for a given list.
    """
    problems = list(problems)
    for problem in problems:
        if problem.rule == "type":
            return problem.code, problem.message
    constraints = [p.message for p in problems if p.rule == "model"]
    if constraints:
        count = len(constraints)
        noun = "error" if count == 1 else "errors"
        return VALIDATION, f"{count} validation {noun} detected: " + "; ".join(constraints)
    for problem in problems:
        if problem.rule == "unknown":
            return problem.code, problem.message
    if not problems:
        return None
    first = min(problems, key=lambda p: _RULE_RANK.get(p.rule, len(_RULE_RANK)))
    return first.code, first.message


def pipeline_of(declaration) -> dict | None:
    """The pipeline object of an API-form or bare declaration, or None if there is none."""
    if not isinstance(declaration, dict):
        return None
    pipeline = declaration.get("pipeline", declaration)
    return pipeline if isinstance(pipeline, dict) else None


def effective_pipeline_type(pipeline: dict) -> str:
    """V1 or V2: the declared type, else V2 when V2-only features are used (model doc), else V1."""
    declared = pipeline.get("pipelineType")
    if declared in ("V1", "V2"):
        return declared
    return "V2" if any(True for _ in _v2_features(pipeline)) else "V1"


# ------------------------------------------------------------------------------------------------
# Paths
# ------------------------------------------------------------------------------------------------

# A path while walking is a linked tuple (parent, segment): cheap to extend, rendered only on a finding.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-@]+")


class _MapKey(str):
    """A map key in a path (configuration keys, artifactStores Regions)."""


def _segments(at) -> list:
    segments = []
    while at is not None:
        at, segment = at
        segments.append(segment)
    segments.reverse()
    return segments


def _render_path(at) -> str:
    """`pipeline.stages[1].actions[0].name`: 0-based indexes, map keys as members."""
    parts = []
    for segment in _segments(at):
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif isinstance(segment, _MapKey) and not _PLAIN_KEY.fullmatch(segment):
            parts.append(f"[{json.dumps(segment)}]")
        else:
            parts.append(f".{segment}")
    return "".join(parts).lstrip(".")


def _render_coral(at) -> str:
    """`pipeline.stages.2.member.actions.1.member.name`: the service's 1-based form."""
    return "".join(
        f".{segment + 1}.member" if isinstance(segment, int) else f".{segment}" for segment in _segments(at)
    ).lstrip(".")


def coral_path(path: str) -> str:
    """Turn a Problem path into the service's form: `a.b[0].c` -> `a.b.1.member.c`."""
    return re.sub(r"\[(\d+)\]", lambda m: f".{int(m.group(1)) + 1}.member", path)


# ------------------------------------------------------------------------------------------------
# Model pass: the botocore shapes compiled once into checkers
# ------------------------------------------------------------------------------------------------


class _Findings:
    """Collects model findings while walking; builds Problems (and their hints) only for findings."""

    __slots__ = ("problems",)

    def __init__(self):
        self.problems: list[Problem] = []

    def constraint(self, at, text: str, hint: str, coral_at=None) -> None:
        coral = _render_coral(at if coral_at is None else coral_at)
        message = f"Value at '{coral}' failed to satisfy constraint: {text}"
        self.problems.append(Problem(_render_path(at), VALIDATION, message, hint, "model"))

    def missing(self, at, member: str, parent: str) -> None:
        message = f"Value null at '{_render_coral(at)}' failed to satisfy constraint: Member must not be null"
        hint = f"add the required member '{member}' to {parent or 'the declaration'}"
        self.problems.append(Problem(_render_path(at), VALIDATION, message, hint, "model"))

    def unknown(self, at, name: str, allowed: Iterable[str]) -> None:
        parent = _render_path(at[0]) or "input"
        allowed = list(allowed)
        message = f'Unknown parameter in {parent}: "{name}", must be one of: {", ".join(allowed)}'
        hint = _unknown_member_hint(at, name, allowed)
        self.problems.append(Problem(_render_path(at), VALIDATION, message, hint, "unknown"))

    def wrong_type(self, at, expected: str, value) -> None:
        found = _json_type(value)
        message = f"Expected {expected} at '{_render_coral(at)}' but found {found}"
        hint = _type_hint(expected, value)
        self.problems.append(Problem(_render_path(at), SERIALIZATION, message, hint, "type"))


class _Scalar:
    """A string, integer, boolean or timestamp shape with its constraints."""

    __slots__ = (
        "name",
        "kind",
        "python_types",
        "min",
        "max",
        "regex",
        "pattern",
        "enum",
        "texts",
        "known_good",
    )

    def __init__(self, name: str, spec: dict):
        self.name = name
        self.kind = spec["type"]
        self.python_types = _PYTHON_TYPES.get(self.kind, (str,))
        self.min = spec.get("min")
        self.max = spec.get("max")
        self.pattern = spec.get("pattern")
        self.regex = _compile_pattern(self.pattern)
        self.enum = tuple(spec["enum"]) if "enum" in spec else None
        self.texts = self._constraint_texts()
        self.known_good: set = set()  # values already found valid: names repeat a lot in a pipeline

    def _constraint_texts(self) -> tuple[str, ...]:
        measure = "length" if self.kind == "string" else "value"
        texts = []
        if self.max is not None:
            texts.append(f"Member must have {measure} less than or equal to {self.max}")
        if self.min is not None:
            texts.append(f"Member must have {measure} greater than or equal to {self.min}")
        if self.regex is not None:
            texts.append(f"Member must satisfy regular expression pattern: {self.pattern}")
        if self.enum is not None:
            texts.append(f"Member must satisfy enum value set: [{', '.join(self.enum)}]")
        return tuple(texts)

    def is_type(self, value) -> bool:
        return type(value) in self.python_types

    def is_valid(self, value) -> bool:
        """True when `value` (of the right type) meets every constraint; remembers valid values."""
        if value in self.known_good:
            return True
        measured = len(value) if self.kind == "string" else value
        valid = (
            (self.min is None or measured >= self.min)
            and (self.max is None or measured <= self.max)
            and (self.regex is None or self.regex.fullmatch(value) is not None)
            and (self.enum is None or value in self.enum)
        )
        if valid:
            if len(self.known_good) >= KNOWN_GOOD_LIMIT:
                self.known_good.clear()
            self.known_good.add(value)
        return valid

    def violations(self, value) -> Iterator[tuple[str, str]]:
        """(constraint text, hint) for each constraint `value` breaks; `value` has the right type."""
        measured = len(value) if self.kind == "string" else value
        measure = "length" if self.kind == "string" else "value"
        if self.max is not None and measured > self.max:
            yield f"Member must have {measure} less than or equal to {self.max}", _limit_hint(self, measured)
        if self.min is not None and measured < self.min:
            yield (
                f"Member must have {measure} greater than or equal to {self.min}",
                _limit_hint(self, measured),
            )
        if self.regex is not None and self.regex.fullmatch(value) is None:
            yield (
                f"Member must satisfy regular expression pattern: {self.pattern}",
                _pattern_hint(self, value),
            )
        if self.enum is not None and value not in self.enum:
            yield f"Member must satisfy enum value set: [{', '.join(self.enum)}]", _enum_hint(self, value)

    def check(self, value, at, findings: _Findings) -> None:
        if type(value) not in self.python_types:
            findings.wrong_type(at, _EXPECTED[self.kind], value)
            return
        if self.kind == "boolean" or self.is_valid(value):
            return
        for text, hint in self.violations(value):
            findings.constraint(at, text, hint)


class _Structure:
    __slots__ = ("name", "members", "required")

    def __init__(self, name: str):
        self.name = name
        self.members: dict = {}
        self.required: tuple[str, ...] = ()

    def check(self, value, at, findings: _Findings) -> None:
        if type(value) is not dict:
            findings.wrong_type(at, "an object", value)
            return
        for member in self.required:
            if value.get(member) is None:
                findings.missing((at, member), member, _render_path(at))
        members = self.members
        for member, item in value.items():
            checker = members.get(member)
            if checker is None:
                findings.unknown((at, member), member, members)
            elif item is not None:
                checker.check(item, (at, member), findings)


class _List:
    __slots__ = ("name", "member", "min", "max", "length")

    def __init__(self, name: str, spec: dict):
        self.name = name
        self.member = None
        self.min, self.max = spec.get("min"), spec.get("max")
        # Coral words list lengths as string lengths ("Member must have length ..."): reuse the wording.
        self.length = _Scalar(name, {"type": "string", "min": self.min, "max": self.max})

    def check(self, value, at, findings: _Findings) -> None:
        if type(value) is not list:
            findings.wrong_type(at, "a list", value)
            return
        count = len(value)
        if (self.min is not None and count < self.min) or (self.max is not None and count > self.max):
            for text, hint in self.length.violations(value):
                findings.constraint(at, text, hint.replace("characters", "items"))
        member = self.member
        for index, item in enumerate(value):
            if item is None:
                findings.missing((at, index), f"item {index}", _render_path(at))
            else:
                member.check(item, (at, index), findings)


class _Map:
    __slots__ = ("name", "key", "value")

    def __init__(self, name: str):
        self.name = name
        self.key: _Scalar | None = None
        self.value = None

    def check(self, value, at, findings: _Findings) -> None:
        if type(value) is not dict:
            findings.wrong_type(at, "an object", value)
            return
        key_shape, value_shape = self.key, self.value
        for key, item in value.items():
            entry_at = (at, _MapKey(key))
            if not key_shape.is_type(key):
                findings.wrong_type(entry_at, "a string key", key)
                continue
            if not key_shape.is_valid(key):
                hint = next(key_shape.violations(key))[1]
                findings.constraint(entry_at, _map_text("Map keys", key_shape), hint, coral_at=at)
            if isinstance(value_shape, _Scalar):
                self._check_scalar_value(value_shape, item, entry_at, at, findings)
            elif item is not None:
                value_shape.check(item, entry_at, findings)

    @staticmethod
    def _check_scalar_value(shape: _Scalar, item, entry_at, map_at, findings: _Findings) -> None:
        if not shape.is_type(item):
            findings.wrong_type(entry_at, _EXPECTED[shape.kind], item)
        elif not shape.is_valid(item):
            hint = next(shape.violations(item))[1]
            findings.constraint(entry_at, _map_text("Map value", shape), hint, coral_at=map_at)


def _map_text(what: str, shape: _Scalar) -> str:
    return f"{what} must satisfy constraint: [{', '.join(shape.texts)}]"


_EXPECTED = {
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "boolean": "a boolean",
    "timestamp": "a number of seconds since the epoch",
}
_PYTHON_TYPES = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "timestamp": (int, float),  # awsJson sends epoch seconds
}
KNOWN_GOOD_LIMIT = 4096


def _compile_pattern(pattern: str | None):
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error:  # a Java-only construct: the constraint cannot be checked here
        return None


@functools.cache
def _shapes() -> dict:
    from botocore.loaders import Loader  # a heavy import, paid on the first validation only

    return Loader().load_service_model("codepipeline", "service-2")["shapes"]


@functools.cache
def _checker(shape_name: str):
    """The compiled checker of a service-model shape (cached; shared by every validation)."""
    return _compile(shape_name, {})


def _compile(name: str, done: dict):
    if name in done:
        return done[name]
    spec = _shapes()[name]
    kind = spec["type"]
    if kind == "structure":
        node = done[name] = _Structure(name)
        node.members = {member: _compile(ref["shape"], done) for member, ref in spec["members"].items()}
        node.required = tuple(spec.get("required", ()))
    elif kind == "list":
        node = done[name] = _List(name, spec)
        node.member = _compile(spec["member"]["shape"], done)
    elif kind == "map":
        node = done[name] = _Map(name)
        node.key = _compile(spec["key"]["shape"], done)
        node.value = _compile(spec["value"]["shape"], done)
    else:
        node = done[name] = _Scalar(name, spec)
    return node


def _model_problems(declaration: dict, api_form: bool) -> list[Problem]:
    findings = _Findings()
    if api_form:
        _checker("CreatePipelineInput").check(declaration, None, findings)
    else:
        _checker("PipelineDeclaration").check(declaration, (None, "pipeline"), findings)
    return findings.problems


def _root_type_problem(value) -> Problem:
    message = f"Expected an object (the pipeline declaration) but found {_json_type(value)}"
    hint = 'pass {"pipeline": {"name": ..., "roleArn": ..., "stages": [...]}} or the pipeline object itself'
    return Problem("", SERIALIZATION, message, hint, "type")


def validate_shape(shape_name: str, value) -> list[Problem]:
    """Check `value` against any CodePipeline model shape (e.g. ListActionTypesOutput); paths start at it."""
    findings = _Findings()
    _checker(shape_name).check(value, None, findings)
    return findings.problems


# ------------------------------------------------------------------------------------------------
# Hints
# ------------------------------------------------------------------------------------------------


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `word` (case-insensitive first), or None."""
    if not isinstance(word, str):
        return None
    candidates = [c for c in candidates if isinstance(c, str)]
    folded = {c.casefold(): c for c in candidates}
    if word.casefold() in folded:
        return folded[word.casefold()]
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return close[0] if close else None


def _suggest(word: str, candidates: Iterable[str], otherwise: str = "") -> str:
    candidates = list(candidates)
    guess = did_you_mean(word, candidates)
    if guess is not None:
        return f"did you mean '{guess}'?"
    return otherwise or f"use one of: {', '.join(map(str, candidates))}"


def _json_type(value) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if type(value) in names:
        return names[type(value)]
    return "a number" if isinstance(value, int | float) else type(value).__name__


def _type_hint(expected: str, value) -> str:
    if expected == "a string" and isinstance(value, bool | int | float):
        text = json.dumps(value)
        return f'write it as a string: "{text}"'
    if expected == "an object" and isinstance(value, str):
        return f'write {{"name": "{value}"}} rather than a bare string'
    if expected == "a list" and isinstance(value, dict):
        return "wrap it in a list: [ {...} ]"
    if expected == "an integer" and isinstance(value, str) and value.isdigit():
        return f"write the number without quotes: {value}"
    return f"use {expected}"


def _limit_hint(shape: _Scalar, measured: int) -> str:
    if shape.kind == "integer":
        return f"use a whole number from {shape.min} to {shape.max}"
    if measured == 0:
        return "it must not be empty"
    if shape.max is not None and measured > shape.max:
        return f"at most {shape.max} characters (this one has {measured})"
    return f"at least {shape.min} characters"


_CHARACTER_CLASS = re.compile(r"(\[[^\]]+\])\+")
_SHAPE_HINTS = {
    "RoleArn": "use arn:aws:iam::<12-digit account id>:role/<role name>",
}


def _pattern_hint(shape: _Scalar, value: str) -> str:
    if shape.name in _SHAPE_HINTS:
        return _SHAPE_HINTS[shape.name]
    if shape.name == "ActionProvider":
        words = value.split()  # "AWS CodeBuild" (a documentation typo) -> CodeBuild
        guess = did_you_mean(words[-1] if words else value, actiontypes.PROVIDERS)
        if guess:
            return f"did you mean '{guess}'?"
    whole_class = _CHARACTER_CLASS.fullmatch(shape.pattern or "")
    if whole_class:
        allowed = re.compile(whole_class.group(1))
        bad = sorted({c for c in value if not allowed.fullmatch(c)})
        if bad:
            return f"remove the characters {', '.join(repr(c) for c in bad)}; allowed: {whole_class.group(1)}"
    return f"it must match {shape.pattern}"


def _enum_hint(shape: _Scalar, value: str) -> str:
    return _suggest(value, shape.enum)


def _unknown_member_hint(at, name: str, allowed: list[str]) -> str:
    parent = at[0]
    if parent is None and name == "metadata":
        return "'metadata' is part of get-pipeline's answer: remove it before create-pipeline/update-pipeline"
    if parent is None and name in _checker("PipelineDeclaration").members:
        return f"'{name}' belongs inside 'pipeline'"
    if parent == (None, "pipeline") and name == "tags":
        return 'tags go beside the pipeline: {"pipeline": {...}, "tags": [...]}'
    return _suggest(name, allowed, f"remove it; allowed: {', '.join(allowed)}")


# ------------------------------------------------------------------------------------------------
# The declaration as data for the semantic rules
# ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ActionInfo:
    """One action read tolerantly: fields that are malformed in the declaration are None or empty."""

    stage_index: int
    index: int
    stage: str
    name: str
    category: str | None
    owner: str | None
    provider: str | None
    version: str | None
    run_order: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    input_count: int
    output_count: int
    configuration: dict
    namespace: str | None
    region: str | None
    declaration: dict
    path: str

    @property
    def type_id(self) -> tuple:
        return (self.category, self.owner, self.provider, self.version)

    @property
    def label(self) -> str:
        return f"{self.stage}/{self.name}"

    def runs_before(self, other: "ActionInfo") -> bool:
        """True when this action finishes before `other` starts (earlier stage or lower runOrder)."""
        if self.stage_index != other.stage_index:
            return self.stage_index < other.stage_index
        return self.run_order < other.run_order


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _artifact_names(items: list) -> tuple[str, ...]:
    return tuple(
        [item["name"] for item in items if isinstance(item, dict) and isinstance(item.get("name"), str)]
    )


def _stages(pipeline: dict) -> list[tuple[int, dict]]:
    return [(i, stage) for i, stage in enumerate(_list(pipeline.get("stages"))) if isinstance(stage, dict)]


def actions_of(pipeline: dict) -> list[ActionInfo]:
    """Every action of the pipeline in document order, read without trusting the declaration's types."""
    actions = []
    for stage_index, stage in _stages(pipeline):
        stage_name = _text(stage.get("name")) or f"stage {stage_index}"
        for index, action in enumerate(_list(stage.get("actions"))):
            if isinstance(action, dict):
                actions.append(_action_info(stage_index, stage_name, index, action))
    return actions


def _action_info(stage_index: int, stage_name: str, index: int, action: dict) -> ActionInfo:
    type_id = action.get("actionTypeId")
    type_id = type_id if isinstance(type_id, dict) else {}
    run_order = action.get("runOrder", 1)
    configuration = action.get("configuration")
    inputs, outputs = _list(action.get("inputArtifacts")), _list(action.get("outputArtifacts"))
    return ActionInfo(
        stage_index=stage_index,
        index=index,
        stage=stage_name,
        name=_text(action.get("name")) or f"action {index}",
        category=_text(type_id.get("category")),
        owner=_text(type_id.get("owner")),
        provider=_text(type_id.get("provider")),
        version=_text(type_id.get("version")),
        run_order=run_order if type(run_order) is int else 1,
        inputs=_artifact_names(inputs),
        outputs=_artifact_names(outputs),
        input_count=len(inputs),
        output_count=len(outputs),
        configuration=configuration if isinstance(configuration, dict) else {},
        namespace=_text(action.get("namespace")),
        region=_text(action.get("region")),
        declaration=action,
        path=f"pipeline.stages[{stage_index}].actions[{index}]",
    )


class _Context:
    """What the semantic rules share: the pipeline, its actions in run order, the caller's Region."""

    def __init__(self, pipeline: dict, tags, region: str | None, custom_types=None):
        self.pipeline = pipeline
        self.tags = tags
        self.region = region
        self.custom_types = custom_types
        self.stages = _stages(pipeline)
        self.actions = actions_of(pipeline)
        self.declared_type = pipeline.get("pipelineType")
        self.variables = {
            v["name"]
            for v in _list(pipeline.get("variables"))
            if isinstance(v, dict) and isinstance(v.get("name"), str)
        }

    @functools.cached_property
    def run_groups(self) -> list[list[list[ActionInfo]]]:
        """Per stage, the actions grouped by runOrder, groups in the order they run."""
        by_stage: dict[int, dict[int, list[ActionInfo]]] = {}
        for action in self.actions:
            by_stage.setdefault(action.stage_index, {}).setdefault(action.run_order, []).append(action)
        return [[groups[order] for order in sorted(groups)] for _, groups in sorted(by_stage.items())]

    @functools.cached_property
    def all_outputs(self) -> dict[str, ActionInfo]:
        """Each output artifact name and its first producer."""
        producers: dict[str, ActionInfo] = {}
        for action in self.actions:
            for name in action.outputs:
                producers.setdefault(name, action)
        return producers

    @functools.cached_property
    def namespaces(self) -> dict[str, ActionInfo]:
        owners: dict[str, ActionInfo] = {}
        for action in self.actions:
            if action.namespace is not None:
                owners.setdefault(action.namespace, action)
        return owners

    def action_type(self, action: ActionInfo) -> actiontypes.ActionType | None:
        """The known type of the action; Custom types are the account's: unknown ones are taken as 0-5/0-5."""
        if action.owner == "Custom" and None not in action.type_id:
            if self.custom_types is not None:
                return self.custom_types(action.category, action.provider, action.version)
            return actiontypes.ActionType(action.category, "Custom", action.provider, (0, 5), (0, 5))
        return actiontypes.find(*action.type_id)


def _in_run_order(
    ctx: _Context, produced: Callable[[ActionInfo], Iterable[str]]
) -> Iterator[tuple[ActionInfo, set]]:
    """Each action with the set of what actions that run before it produced (shared; read it at once)."""
    available: set = set()
    for groups in ctx.run_groups:
        for group in groups:
            yield from ((action, available) for action in group)
            for action in group:
                available.update(produced(action))


# ------------------------------------------------------------------------------------------------
# Semantic rules, in the service's order
# ------------------------------------------------------------------------------------------------


def _semantic_problems(ctx: _Context) -> list[Problem]:
    problems: list[Problem] = []
    for check in _CHECKS:
        problems.extend(check(ctx))
    return problems


def _artifact_store_rules(ctx: _Context) -> Iterator[Problem]:  # S4
    single, stores = ctx.pipeline.get("artifactStore"), ctx.pipeline.get("artifactStores")
    if single is None and stores is None:
        message = "Pipeline must have an artifactStore or artifactStores"
        hint = 'add "artifactStore": {"type": "S3", "location": "<bucket>"}'
        yield Problem("pipeline", STRUCTURE, message, hint, "S4")
    elif single is not None and stores is not None:
        message = "Pipeline can have only one of artifactStore or artifactStores, not both"
        hint = "keep artifactStores for cross-region pipelines, artifactStore otherwise"
        yield Problem("pipeline.artifactStores", STRUCTURE, message, hint, "S4")
    if isinstance(stores, dict):
        yield from _artifact_stores_map_rules(ctx, stores)
    elif isinstance(single, dict) and ctx.region:
        yield from _single_store_rules(ctx)


def _single_store_rules(ctx: _Context) -> Iterator[Problem]:
    """With one artifactStore, every action runs in the pipeline's Region."""
    for action in ctx.actions:
        # An unknown Region is S22's to report, as a ValidationException.
        if action.region and action.region != ctx.region and action.region in aws_regions():
            message = (
                f"Action '{action.name}' runs in region '{action.region}', which needs "
                "artifactStores with an artifact store for each region"
            )
            hint = f"replace artifactStore by artifactStores {{'{ctx.region}': ..., '{action.region}': ...}}"
            yield Problem(f"{action.path}.region", STRUCTURE, message, hint, "S4")


def _artifact_stores_map_rules(ctx: _Context, stores: dict) -> Iterator[Problem]:
    regions = aws_regions()
    for region in stores:
        if region not in regions:
            message = f"The region {region} specified in 'pipeline.artifactStores' is not a valid AWS Region."
            hint = _suggest(region, sorted(regions), "use a Region name such as us-east-1")
            yield Problem(f"pipeline.artifactStores.{region}", VALIDATION, message, hint, "S4")
    if ctx.region and ctx.region not in stores:
        message = f"artifactStores must include an artifact store in the pipeline's region '{ctx.region}'"
        yield Problem("pipeline.artifactStores", STRUCTURE, message, f"add '{ctx.region}': {{...}}", "S4")
    for action in ctx.actions:
        if action.region and action.region not in stores:
            message = (
                f"artifactStores has no artifact store for region '{action.region}' "
                f"used by action '{action.name}'"
            )
            hint = f'add \'{action.region}\': {{"type": "S3", "location": "<bucket in {action.region}>"}}'
            yield Problem(f"{action.path}.region", STRUCTURE, message, hint, "S4")


def _stage_count_rules(ctx: _Context) -> Iterator[Problem]:  # S5
    stages = ctx.pipeline.get("stages")
    if not isinstance(stages, list):
        return
    if len(stages) < 2:
        message = (
            f"Pipeline has only {len(stages)} stages. There should be a minimum of 2 stages in a pipeline"
        )
        hint = "add a stage after the source stage, e.g. a Build or Deploy stage"
        yield Problem("pipeline.stages", STRUCTURE, message, hint, "S5")
    elif len(stages) > MAX_STAGES:
        message = f"Pipeline has {len(stages)} stages. There should be a maximum of {MAX_STAGES} stages"
        yield Problem("pipeline.stages", STRUCTURE, message, "merge or remove stages", "S5")


def _stage_name_rules(ctx: _Context) -> Iterator[Problem]:  # S6
    seen: set[str] = set()
    for index, stage in ctx.stages:
        name = stage.get("name")
        if not isinstance(name, str):
            continue
        if name in seen:
            message = f"All stage names within a pipeline must be unique. ({name})"
            yield Problem(
                f"pipeline.stages[{index}].name", STRUCTURE, message, "rename one of the stages", "S6"
            )
        seen.add(name)


def _stage_size_rules(ctx: _Context) -> Iterator[Problem]:  # S7
    for index, stage in ctx.stages:
        actions = stage.get("actions")
        if not isinstance(actions, list):
            continue
        name = stage.get("name")
        if not actions:
            message = f"Stage {name} must contain at least one action"
            yield Problem(
                f"pipeline.stages[{index}].actions", STAGE, message, "add an action or remove the stage", "S7"
            )
        elif len(actions) > MAX_ACTIONS_PER_STAGE:
            message = (
                f"Stage {name} has {len(actions)} actions; a stage can have at most {MAX_ACTIONS_PER_STAGE}"
            )
            yield Problem(f"pipeline.stages[{index}].actions", STAGE, message, "split the stage", "S7")
    if len(ctx.actions) > MAX_ACTIONS_PER_PIPELINE:
        message = (
            f"Pipeline has {len(ctx.actions)} actions; a pipeline can have at most {MAX_ACTIONS_PER_PIPELINE}"
        )
        yield Problem("pipeline.stages", STRUCTURE, message, "split the pipeline", "S7")


def _category_path(action: ActionInfo) -> str:
    return f"{action.path}.actionTypeId.category"


def _first_stage_rules(ctx: _Context) -> Iterator[Problem]:  # S8
    first = [a for a in ctx.actions if a.stage_index == 0 and a.category is not None]
    for action in first:
        if action.category != SOURCE:
            message = "Pipeline should start with a stage that only contains source actions"
            hint = f"move '{action.name}' ({action.category}) to a later stage: the first holds only sources"
            yield Problem(_category_path(action), STRUCTURE, message, hint, "S8")


def _source_placement_rules(ctx: _Context) -> Iterator[Problem]:  # S9
    for action in ctx.actions:
        if action.stage_index > 0 and action.category == SOURCE:
            message = "Only the first stage of a pipeline may contain source actions"
            hint = f"move source action '{action.name}' into the first stage"
            yield Problem(_category_path(action), STRUCTURE, message, hint, "S9")


def _non_source_rules(ctx: _Context) -> Iterator[Problem]:  # S10
    categories = [a.category for a in ctx.actions if a.category is not None]
    if categories and all(category == SOURCE for category in categories):
        message = "At least one stage in pipeline must contain an action that is not a source action."
        yield Problem("pipeline.stages", STRUCTURE, message, "add a Build, Test or Deploy stage", "S10")


def _action_name_rules(ctx: _Context) -> Iterator[Problem]:  # S11
    seen: set[tuple[int, str]] = set()
    for action in ctx.actions:
        name = action.declaration.get("name")
        if not isinstance(name, str):
            continue
        if (action.stage_index, name) in seen:
            message = f"All action names within a stage must be unique ({name})."
            yield Problem(f"{action.path}.name", STAGE, message, f"rename one of the actions '{name}'", "S11")
        seen.add((action.stage_index, name))


def _v2_features(pipeline: dict) -> Iterator[tuple[str, str]]:
    """(path, message) for each V2-only feature the pipeline uses."""
    triggers = pipeline.get("triggers")
    if isinstance(triggers, list) and triggers:
        on_tags = any(_trigger_uses_tags(t) for t in triggers)
        yield (
            "pipeline.triggers",
            f"Triggers{' on tag' if on_tags else ''} can only be used with V2 pipelines",
        )
    if _list(pipeline.get("variables")):
        yield "pipeline.variables", "Pipeline variables can only be used with V2 pipelines"
    mode = pipeline.get("executionMode")
    if mode in ("QUEUED", "PARALLEL"):
        yield "pipeline.executionMode", f"Execution mode {mode} can only be used with V2 pipelines"
    for index, stage in _stages(pipeline):
        for condition in ("onFailure", "onSuccess", "beforeEntry"):
            if stage.get(condition) is not None:
                yield (
                    f"pipeline.stages[{index}].{condition}",
                    "Stage conditions can only be used with V2 pipelines",
                )
    for action in actions_of(pipeline):
        action_type = actiontypes.find(*action.type_id)
        if (action_type and action_type.v2_only) or action.declaration.get("commands") is not None:
            yield _category_path(action), "The Commands action is only available for V2 type pipelines."


def _trigger_uses_tags(trigger) -> bool:
    git = trigger.get("gitConfiguration") if isinstance(trigger, dict) else None
    pushes = _list(git.get("push")) if isinstance(git, dict) else []
    return any(isinstance(push, dict) and push.get("tags") is not None for push in pushes)


def _pipeline_type_rules(ctx: _Context) -> Iterator[Problem]:  # S25
    if ctx.declared_type == "V1":
        for path, message in _v2_features(ctx.pipeline):
            yield Problem(path, STRUCTURE, message, 'set "pipelineType": "V2"', "S25")
    if ctx.pipeline.get("executionMode") == "PARALLEL":
        yield from _parallel_mode_rules(ctx)


def _parallel_mode_rules(ctx: _Context) -> Iterator[Problem]:
    for index, stage in ctx.stages:
        on_failure = stage.get("onFailure")
        if isinstance(on_failure, dict) and on_failure.get("result") == "ROLLBACK":
            message = "Stage rollback is not available for pipelines in PARALLEL execution mode"
            hint = 'use "result": "FAIL" or "RETRY", or executionMode QUEUED/SUPERSEDED'
            yield Problem(f"pipeline.stages[{index}].onFailure.result", STRUCTURE, message, hint, "S25")


def _action_type_rules(ctx: _Context) -> Iterator[Problem]:  # S14
    for action in ctx.actions:
        if None in action.type_id or ctx.action_type(action) is not None:
            continue
        if not _type_fields_are_well_formed(action):
            continue  # the model pass already reports the malformed field
        region = action.region or ctx.region
        where = f" in region '{region.upper().replace('-', '_')}'" if region else ""
        message = (
            f"ActionType (Category: '{action.category}', Provider: '{action.provider}', "
            f"Owner: '{action.owner}', Version: '{action.version}') in action '{action.name}' "
            f"is not available{where}"
        )
        field, hint = _action_type_hint(action)
        yield Problem(f"{action.path}.actionTypeId.{field}", ACTION, message, hint, "S14")


def _type_fields_are_well_formed(action: ActionInfo) -> bool:
    shapes = _checker("ActionTypeId").members
    fields = zip(("category", "owner", "provider", "version"), action.type_id, strict=True)
    return all(shapes[field].is_valid(value) for field, value in fields)


def _action_type_hint(action: ActionInfo) -> tuple[str, str]:
    """The actionTypeId field at fault and what to write instead."""
    if action.owner == "Custom":
        return (
            "provider",
            "create the custom action type first (CreateCustomActionType), or match category, provider and "
            "version to one that ListActionTypes --action-owner-filter Custom lists",
        )
    same_provider = actiontypes.with_provider(action.provider)
    if not same_provider:
        fitting = sorted({t.provider for t in actiontypes.ACTION_TYPES if t.category == action.category})
        guess = did_you_mean(action.provider, actiontypes.PROVIDERS)
        return (
            "provider",
            f"did you mean '{guess}'?" if guess else f"{action.category} providers: {', '.join(fitting)}",
        )
    categories = sorted({t.category for t in same_provider})
    if action.category not in categories:
        return "category", f"{action.provider} actions have category {' or '.join(categories)}"
    fitting = [t for t in same_provider if t.category == action.category]
    if action.owner not in {t.owner for t in fitting}:
        return "owner", f"{action.provider} is owned by '{fitting[0].owner}'"
    return "version", f"the version of {action.provider} is '{fitting[0].version}'"


def _artifact_count_rules(ctx: _Context) -> Iterator[Problem]:  # S15
    for action in ctx.actions:
        action_type = ctx.action_type(action)
        if action_type is None:
            continue
        yield from _count_problem(action, "input", action.input_count, action_type.inputs, action_type)
        yield from _count_problem(action, "output", action.output_count, action_type.outputs, action_type)


def _count_problem(
    action: ActionInfo, kind: str, count: int, bounds: tuple[int, int], action_type: actiontypes.ActionType
) -> Iterator[Problem]:
    low, high = bounds
    if low <= count <= high:
        return
    comparison = (
        f"less than the minimum count ({low})" if count < low else f"more than the maximum count ({high})"
    )
    message = f"Action {action.name} declares {count} {kind} artifacts which is {comparison}"
    allowed = f"{low}" if low == high else f"{low} to {high}"
    hint = f"{action_type.provider} {action_type.category} actions take {allowed} {kind} artifact(s)"
    if kind == "input" and count < low:
        hint += "; name an output artifact of an earlier action"
    yield Problem(f"{action.path}.{kind}Artifacts", ACTION, message, hint, "S15")


def _configuration_rules(ctx: _Context) -> Iterator[Problem]:  # S21
    for action in ctx.actions:
        yield from _action_field_rules(action)
        action_type = ctx.action_type(action)
        if action_type is None or (action.owner == "Custom" and ctx.custom_types is None):
            continue
        yield from _configuration_keys(action, action_type)
        yield from _configuration_values(action, action_type)
        provider_rules = _PROVIDER_RULES.get((action.category, action.provider))
        if provider_rules is not None:
            yield from provider_rules(action)


_COMMANDS_ONLY = ("commands", "outputVariables", "environmentVariables")


def _action_field_rules(action: ActionInfo) -> Iterator[Problem]:
    is_commands = action.provider == "Commands" and action.category == "Compute"
    if is_commands and action.declaration.get("commands") is None:
        message = f"Action '{action.name}' of type Commands must declare commands"
        yield Problem(
            f"{action.path}.commands", ACTION, message, 'add "commands": ["<shell command>"]', "S21"
        )
    if is_commands:
        return
    for field in _COMMANDS_ONLY:
        if action.declaration.get(field) is not None:
            message = f"Action '{action.name}' declares {field}, which only Commands actions take"
            hint = f"remove '{field}' (for CodeBuild use configuration.EnvironmentVariables)"
            yield Problem(f"{action.path}.{field}", ACTION, message, hint, "S21")


def _configuration_keys(action: ActionInfo, action_type: actiontypes.ActionType) -> Iterator[Problem]:
    configuration = action.configuration
    for key in action_type.required_keys:
        if key not in configuration:
            message = f"Action '{action.name}' is missing required configuration key: {key}"
            hint = f'add "{key}": "..." to configuration'
            wrong_case = did_you_mean(key, configuration)
            if wrong_case is not None and wrong_case.casefold() == key.casefold():
                hint = f"rename '{wrong_case}' to '{key}' (keys are case-sensitive)"
            yield Problem(f"{action.path}.configuration.{key}", ACTION, message, hint, "S21")
    known = [p.name for p in action_type.properties]
    for key in configuration:
        if action_type.property(key) is None:
            message = f"Action '{action.name}' has unknown configuration key: {key}"
            hint = _suggest(
                key, known, f"remove it; {action_type.provider} takes: {', '.join(known) or 'none'}"
            )
            yield Problem(f"{action.path}.configuration.{key}", ACTION, message, hint, "S21")


def _configuration_values(action: ActionInfo, action_type: actiontypes.ActionType) -> Iterator[Problem]:
    for key, value in action.configuration.items():
        spec = action_type.property(key)
        if spec is None or not isinstance(value, str) or "#{" in value:
            continue  # unknown keys are reported above; variables resolve only at run time
        path = f"{action.path}.configuration.{key}"
        if spec.allowed and _normalized(value, spec) not in spec.allowed:
            message = f"Action '{action.name}' has an invalid value for {key}: '{value}'"
            yield Problem(path, ACTION, message, _suggest(value, spec.allowed), "S21")
        elif spec.type == "Number" and not _NUMBER.fullmatch(value):
            message = f"Action '{action.name}' has an invalid value for {key}: '{value}' is not a number"
            yield Problem(path, ACTION, message, 'write a number, e.g. "10"', "S21")
        elif spec.refers_to:
            yield from _artifact_reference(action, key, value, spec.refers_to)


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _normalized(value: str, spec: actiontypes.ConfigProperty) -> str:
    return value.lower() if spec.type == "Boolean" else value


def _artifact_reference(action: ActionInfo, key: str, value: str, kind: str) -> Iterator[Problem]:
    path = f"{action.path}.configuration.{key}"
    artifact = value
    if kind == actiontypes.INPUT_PATH:
        artifact, separator, file = value.partition("::")
        if not separator or not artifact or not file:
            message = f"Action '{action.name}' has an invalid value for {key}: '{value}'"
            yield Problem(
                path, ACTION, message, f"write it as ArtifactName::path/to/file, e.g. {value}::file", "S21"
            )
            return
    if artifact not in action.inputs:
        inputs = ", ".join(action.inputs) or "none"
        message = (
            f"{key} of action '{action.name}' names '{artifact}', not one of its input artifacts ({inputs})"
        )
        hint = _suggest(artifact, action.inputs, f"add '{artifact}' to the action's inputArtifacts")
        yield Problem(path, ACTION, message, hint, "S21")


def _codebuild_rules(action: ActionInfo) -> Iterator[Problem]:
    configuration = action.configuration
    if len(action.inputs) > 1 and "PrimarySource" not in configuration:
        message = f"Action '{action.name}' has several input artifacts and must name its PrimarySource"
        hint = f'add "PrimarySource": "{action.inputs[0]}" (the input that holds buildspec.yml)'
        yield Problem(f"{action.path}.configuration.PrimarySource", ACTION, message, hint, "S21")
    variables = configuration.get("EnvironmentVariables")
    if isinstance(variables, str) and not _valid_environment_variables(variables):
        message = (
            f"Action '{action.name}' has invalid EnvironmentVariables: not a JSON list of {{name, value}}"
        )
        hint = 'e.g. [{"name": "STAGE", "value": "test", "type": "PLAINTEXT"}]'
        yield Problem(f"{action.path}.configuration.EnvironmentVariables", ACTION, message, hint, "S21")


_VARIABLE_TYPES = ("PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER")


def _valid_environment_variables(text: str) -> bool:
    try:
        variables = json.loads(text)
    except ValueError:
        return False
    return isinstance(variables, list) and all(
        isinstance(v, dict)
        and isinstance(v.get("name"), str)
        and isinstance(v.get("value"), str)
        and v.get("type", "PLAINTEXT") in _VARIABLE_TYPES
        for v in variables
    )


_TEMPLATE_MODES = ("CREATE_UPDATE", "REPLACE_ON_FAILURE", "CHANGE_SET_REPLACE")
_CHANGE_SET_MODES = ("CHANGE_SET_REPLACE", "CHANGE_SET_EXECUTE")


def _cloudformation_rules(action: ActionInfo) -> Iterator[Problem]:
    configuration = action.configuration
    mode = configuration.get("ActionMode")
    needed = [("TemplatePath", _TEMPLATE_MODES), ("ChangeSetName", _CHANGE_SET_MODES)]
    for key, modes in needed:
        if mode in modes and key not in configuration:
            message = (
                f"Action '{action.name}' with ActionMode {mode} is missing required configuration key: {key}"
            )
            example = "SourceOutput::template.yml" if key == "TemplatePath" else "my-change-set"
            yield Problem(
                f"{action.path}.configuration.{key}", ACTION, message, f'add "{key}": "{example}"', "S21"
            )
    role = configuration.get("RoleArn")
    if isinstance(role, str) and "#{" not in role and not _checker("RoleArn").is_valid(role):
        message = f"RoleArn of action '{action.name}' is not an IAM role ARN: '{role}'"
        yield Problem(f"{action.path}.configuration.RoleArn", ACTION, message, _SHAPE_HINTS["RoleArn"], "S21")


def _s3_deploy_rules(action: ActionInfo) -> Iterator[Problem]:
    configuration = action.configuration
    extract = configuration.get("Extract")
    if isinstance(extract, str) and extract.lower() == "false" and "ObjectKey" not in configuration:
        message = (
            f"Action '{action.name}' with Extract false is missing required configuration key: ObjectKey"
        )
        hint = 'add "ObjectKey": "<key of the uploaded zip>" or set "Extract": "true"'
        yield Problem(f"{action.path}.configuration.ObjectKey", ACTION, message, hint, "S21")


_PROVIDER_RULES = {
    ("Build", "CodeBuild"): _codebuild_rules,
    ("Test", "CodeBuild"): _codebuild_rules,
    ("Deploy", "CloudFormation"): _cloudformation_rules,
    ("Deploy", "S3"): _s3_deploy_rules,
}


@functools.cache
def aws_regions() -> frozenset[str]:
    """Every Region name of every partition botocore knows."""
    from botocore.loaders import Loader

    partitions = Loader().load_data("endpoints")["partitions"]
    return frozenset(region for partition in partitions for region in partition.get("regions", {}))


def _region_rules(ctx: _Context) -> Iterator[Problem]:  # S22
    for action in ctx.actions:
        if action.region is None:
            continue
        path = f"{action.path}.region"
        if action.region not in aws_regions():
            message = (
                f"The region {action.region} specified in action '{action.name}' is not a valid AWS Region."
            )
            yield Problem(path, VALIDATION, message, _suggest(action.region, sorted(aws_regions())), "S22")
        elif ctx.region and action.region != ctx.region and _never_cross_region(action):
            kind = "source" if action.category == SOURCE else f"{action.owner}"
            message = (
                f"Action '{action.name}' cannot run in another region: {kind} actions are not cross-region"
            )
            hint = f"remove 'region' or set it to the pipeline's region '{ctx.region}'"
            yield Problem(path, ACTION, message, hint, "S22")


def _never_cross_region(action: ActionInfo) -> bool:
    return action.category == SOURCE or action.owner in ("ThirdParty", "Custom")


_MANUAL_APPROVAL = ("Approval", "AWS", "Manual", "1")


def _timeout_rules(ctx: _Context) -> Iterator[Problem]:  # S23
    for action in ctx.actions:
        if action.declaration.get("timeoutInMinutes") is not None and action.type_id != _MANUAL_APPROVAL:
            message = (
                f"timeoutInMinutes can only be set on Manual approval actions, not on action '{action.name}'"
            )
            hint = "remove timeoutInMinutes; only Approval/AWS/Manual actions take it"
            yield Problem(f"{action.path}.timeoutInMinutes", ACTION, message, hint, "S23")


def _namespace_rules(ctx: _Context) -> Iterator[Problem]:  # S19
    owners: dict[str, ActionInfo] = {}
    for action in ctx.actions:
        namespace = action.namespace
        if namespace is None:
            continue
        path = f"{action.path}.namespace"
        if namespace in owners:
            message = (
                "Namespaces must be unique across the pipeline definition. The following occur more than "
                f"once in the pipeline. StageName=[{action.stage}], ActionName=[{action.name}], "
                f"Namespace=[{namespace}]"
            )
            hint = f"'{namespace}' is already the namespace of {owners[namespace].label}; pick another name"
            yield Problem(path, ACTION, message, hint, "S19")
        elif namespace in ctx.all_outputs:
            message = f"Namespace {namespace} of action '{action.name}' must not be the name of an artifact"
            yield Problem(path, ACTION, message, f"rename it, e.g. '{namespace}Variables'", "S19")
        elif namespace in RESERVED_NAMESPACES:
            message = f"Namespace {namespace} of action '{action.name}' is reserved"
            yield Problem(path, ACTION, message, f"rename it, e.g. '{action.name}Variables'", "S19")
        owners.setdefault(namespace, action)


def _output_uniqueness_rules(ctx: _Context) -> Iterator[Problem]:  # S16
    first_producer: dict[str, ActionInfo] = {}
    for action in ctx.actions:
        for index, item in enumerate(_list(action.declaration.get("outputArtifacts"))):
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                continue
            if name in first_producer:
                message = (
                    f"Output Artifact Bundle name must be unique within the pipeline. {name} has been used "
                    "more than once."
                )
                hint = f"'{name}' is already an output of {first_producer[name].label}; rename this one"
                path = f"{action.path}.outputArtifacts[{index}].name"
                yield Problem(path, STRUCTURE, message, hint, "S16")
            else:
                first_producer[name] = action


def _input_artifact_rules(ctx: _Context) -> Iterator[Problem]:  # S17
    for action, available in _in_run_order(ctx, lambda a: a.outputs):
        for index, item in enumerate(_list(action.declaration.get("inputArtifacts"))):
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name not in available:
                message = (
                    f"Input Artifact Bundle {name} in action '{action.name}' is not declared as an output "
                    "artifact in any of the preceding actions"
                )
                hint = _input_hint(ctx, action, name, available)
                yield Problem(f"{action.path}.inputArtifacts[{index}].name", STRUCTURE, message, hint, "S17")


def _input_hint(ctx: _Context, action: ActionInfo, name: str, available: set) -> str:
    producer = ctx.all_outputs.get(name)
    if producer is action:
        return "an action cannot read its own output artifact"
    if producer is not None and producer.stage_index == action.stage_index:
        return (
            f"'{name}' is produced by {producer.label} with runOrder {producer.run_order}; give "
            f"'{action.name}' a higher runOrder"
        )
    if producer is not None:
        return f"'{name}' is produced later, by {producer.label}; move that action to an earlier stage"
    guess = did_you_mean(name, sorted(available))
    if guess is not None:
        return f"did you mean '{guess}'?"
    offer = f" (available here: {', '.join(sorted(available))})" if available else ""
    return f"add an output artifact named '{name}' to an earlier action{offer}"


_VARIABLE_REFERENCE = re.compile(r"#\{([^{}]*)\}")


def _variable_reference_rules(ctx: _Context) -> Iterator[Problem]:  # S24
    for action, earlier in _in_run_order(ctx, lambda a: (a.namespace,) if a.namespace else ()):
        for key, value in _texts_with_references(action):
            for reference in _VARIABLE_REFERENCE.findall(value):
                problem = _reference_problem(ctx, action, reference, earlier)
                if problem is not None:
                    message, hint = problem
                    yield Problem(f"{action.path}.{key}", ACTION, message, hint, "S24")


def _texts_with_references(action: ActionInfo) -> Iterator[tuple[str, str]]:
    """(path below the action, text) of every value that may hold #{namespace.variable}."""
    for key, value in action.configuration.items():
        if isinstance(value, str) and "#{" in value:
            yield f"configuration.{key}", value
    for index, variable in enumerate(_list(action.declaration.get("environmentVariables"))):
        value = variable.get("value") if isinstance(variable, dict) else None
        if isinstance(value, str) and "#{" in value:
            yield f"environmentVariables[{index}].value", value


def _reference_problem(
    ctx: _Context, action: ActionInfo, reference: str, earlier: set
) -> tuple[str, str] | None:
    """(message, hint) when `#{reference}` cannot resolve for this action, else None."""
    namespace, dot, variable = reference.partition(".")
    prefix = f"Variable #{{{reference}}} in action '{action.name}'"
    if not dot or not namespace or not variable:
        return f"{prefix} must have the form #{{namespace.variable}}", "e.g. #{SourceVariables.CommitId}"
    if namespace == "codepipeline":
        if variable in CODEPIPELINE_VARIABLES:
            return None
        return f"{prefix} names an unknown codepipeline variable", _suggest(variable, CODEPIPELINE_VARIABLES)
    if namespace == "variables":
        if variable in ctx.variables:
            return None
        hint = _suggest(
            variable, sorted(ctx.variables), f'declare it: "variables": [{{"name": "{variable}"}}]'
        )
        return f"{prefix} names an undeclared pipeline variable", hint
    if namespace in earlier:
        return None
    owner = ctx.namespaces.get(namespace)
    if owner is not None:
        hint = f"namespace '{namespace}' belongs to {owner.label}, which does not run before '{action.name}'"
        return f"{prefix} references a namespace of an action that does not run earlier", hint
    candidates = sorted(earlier | set(RESERVED_NAMESPACES))
    hint = _suggest(namespace, candidates, f'set "namespace": "{namespace}" on an earlier action')
    return f"{prefix} references unknown namespace '{namespace}'", hint


_TRIGGER_MESSAGE = (
    "Triggers for connection must reference a CodeStarSourceConnection action. Note that when you specify a "
    "trigger, you cant specify more than one trigger per source action."
)
_PUSH_FILTERS = ({"tags"}, {"branches"}, {"branches", "filePaths"})
_PULL_REQUEST_FILTERS = ({"branches"}, {"branches", "filePaths"})


def _trigger_rules(ctx: _Context) -> Iterator[Problem]:  # S26
    sources = {a.name: a for a in ctx.actions if a.category == SOURCE}
    seen: set[str] = set()
    for index, trigger in enumerate(_list(ctx.pipeline.get("triggers"))):
        git = trigger.get("gitConfiguration") if isinstance(trigger, dict) else None
        if not isinstance(git, dict):
            continue
        path = f"pipeline.triggers[{index}].gitConfiguration"
        name = git.get("sourceActionName")
        if isinstance(name, str):
            problem = _trigger_source_problem(sources, name, seen)
            if problem is not None:
                yield Problem(f"{path}.sourceActionName", VALIDATION, _TRIGGER_MESSAGE, problem, "S26")
            seen.add(name)
        yield from _trigger_filter_rules(git, path)


def _trigger_source_problem(sources: dict[str, ActionInfo], name: str, seen: set[str]) -> str | None:
    """The hint when the trigger cannot attach to source action `name`, else None."""
    if name in seen:
        return f"source action '{name}' already has a trigger; put all its filters in one trigger"
    source = sources.get(name)
    if source is None:
        return _suggest(name, sorted(sources), "name a CodeStarSourceConnection source action")
    if source.provider != "CodeStarSourceConnection":
        return f"'{name}' is a {source.provider} source: change detection starts it, not triggers"
    return None


def _trigger_filter_rules(git: dict, path: str) -> Iterator[Problem]:
    push, pull_request = git.get("push"), git.get("pullRequest")
    if push is None and pull_request is None:
        message = "A trigger's gitConfiguration must have push or pullRequest filters"
        yield Problem(path, VALIDATION, message, 'add "push": [{"branches": {"includes": ["main"]}}]', "S26")
    for kind, allowed in (("push", _PUSH_FILTERS), ("pullRequest", _PULL_REQUEST_FILTERS)):
        for index, item in enumerate(_list(git.get(kind))):
            if isinstance(item, dict):
                yield from _filter_problems(item, allowed, f"{path}.{kind}[{index}]", kind)


def _filter_problems(item: dict, allowed: tuple[set, ...], path: str, kind: str) -> Iterator[Problem]:
    criteria = {key for key in ("tags", "branches", "filePaths") if item.get(key) is not None}
    if criteria not in allowed:
        combos = " or ".join("+".join(sorted(c)) for c in allowed)
        found = "+".join(sorted(criteria)) or "none"
        message = f"A {kind} filter must filter on {combos}; this one filters on {found}"
        yield Problem(path, VALIDATION, message, "split it into separate filters", "S26")
    for key in sorted(criteria):
        value = item[key]
        if isinstance(value, dict) and value.get("includes") is None and value.get("excludes") is None:
            message = f"The {key} criteria of a {kind} filter need includes or excludes"
            yield Problem(f"{path}.{key}", VALIDATION, message, 'add "includes": ["<glob>"]', "S26")


def _tag_rules(ctx: _Context) -> Iterator[Problem]:  # S27
    tags = _list(ctx.tags)
    if len(tags) > MAX_TAGS:
        message = f"Tag limit exceeded: {len(tags)} tags given, a resource can have at most {MAX_TAGS}"
        yield Problem("tags", "TooManyTagsException", message, "remove tags", "S27")
    seen: set[str] = set()
    for index, tag in enumerate(tags):
        key = tag.get("key") if isinstance(tag, dict) else None
        if not isinstance(key, str):
            continue
        if key.lower().startswith("aws:"):
            message = (
                "Not allowed to modify system tags. System tags start with 'aws:'. "
                "msg=[Caller is an end user and not allowed to mutate system tags]"
            )
            yield Problem(
                f"tags[{index}].key", "InvalidTagsException", message, "use a key without 'aws:'", "S27"
            )
        elif key in seen:
            message = f"Tag keys must be unique: '{key}' appears more than once"
            yield Problem(
                f"tags[{index}].key", "InvalidTagsException", message, "remove the duplicate tag", "S27"
            )
        seen.add(key)


_CHECKS = (
    _artifact_store_rules,
    _stage_count_rules,
    _stage_name_rules,
    _stage_size_rules,
    _first_stage_rules,
    _source_placement_rules,
    _non_source_rules,
    _action_name_rules,
    _pipeline_type_rules,
    _action_type_rules,
    _artifact_count_rules,
    _configuration_rules,
    _region_rules,
    _timeout_rules,
    _namespace_rules,
    _output_uniqueness_rules,
    _input_artifact_rules,
    _variable_reference_rules,
    _trigger_rules,
    _tag_rules,
)
