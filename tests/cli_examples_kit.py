"""The aws CLI's own examples (awscli/examples/<service>/*.rst) as data: each example's command, the files it
reads, its documented output, and the API operation it calls; and a comparison of an answer's key structure
with the documented one, guided by botocore's output shape."""

import functools
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import awscli
import botocore.session
from botocore import xform_name

EXAMPLES = Path(awscli.__file__).parent / "examples"
# The CLI's service name -> botocore's (the signing name of the endpoint's services).
SERVICES = {
    "codepipeline": "codepipeline",
    "codebuild": "codebuild",
    "deploy": "codedeploy",
    "codecommit": "codecommit",
    "codestar-connections": "codestar-connections",
}
PAGE_TOKENS = {"nextToken", "NextToken"}
# Typos in the examples as printed, which the CLI rejects: (service, command) -> [(printed, meant)]. Option
# names are also lower-cased and stripped of a trailing colon, and lines that go on with an option without the
# printed backslash are joined.
TYPOS = {
    ("codecommit", "merge-pull-request-by-squash"): [("--name ", "--author-name ")],
    ("codecommit", "merge-pull-request-by-three-way"): [("--name ", "--author-name ")],
    ("codecommit", "create-unreferenced-merge-commit"): [("--name ", "--author-name ")],
    # its file holds the whole input, as --cli-input-json takes it
    ("codecommit", "put-repository-triggers"): [("--triggers file://", "--cli-input-json file://")],
    ("codecommit", "batch-associate-approval-rule-template-with-repositories"): [
        ("MyDemoRepo, MyOtherDemoRepo", "MyDemoRepo MyOtherDemoRepo")
    ],
    ("codecommit", "batch-disassociate-approval-rule-template-from-repositories"): [
        ("MyDemoRepo, MyOtherDemoRepo", "MyDemoRepo MyOtherDemoRepo"),
        ("1-approval-rule-for-all pull requests", "1-approval-rule-for-all-pull-requests"),
    ],
}


@dataclass
class Example:
    service: str  # the CLI's name: deploy
    command: str  # the CLI's name: create-deployment
    operation: str | None  # botocore's: CreateDeployment; None for a CLI customisation
    argv: list[str]  # after `aws <service> <command>`
    files: dict[str, str] = field(default_factory=dict)  # file:// name -> the content the .rst shows
    output: object = None  # the documented JSON output; None when there is none
    output_problem: str = ""  # why a documented output could not be read as JSON
    source: str = ""  # file name and example number
    corrected: bool = False  # whether a typo of the printed command was put right (TYPOS)


@dataclass
class Block:
    intro: str  # the paragraph that ends with `::`
    text: str


def blocks(rst: str) -> list[Block]:
    """The literal blocks of an .rst file (introduced by `::`, indented), each with the text before it; an
    indented `aws ...` command is one too, `::` or not."""
    lines = rst.splitlines()
    found, index = [], 0
    while index < len(lines):
        line = lines[index]
        if line.rstrip().endswith("::"):
            intro, body, index = line, [], index + 1
        elif line[:1] in " \t" and line.strip().startswith("aws "):
            intro, body = "", []
        else:
            index += 1
            continue
        while index < len(lines) and (not lines[index].strip() or lines[index][:1] in " \t"):
            body.append(lines[index])
            index += 1
        found.append(Block(intro.strip(), _dedent(body)))
    return found


def _dedent(lines: list[str]) -> str:
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:] for line in lines).strip()


def parse(service: str, path: Path) -> list[Example]:
    operations = _operations(SERVICES[service])
    command = path.stem
    found = blocks(path.read_text())
    examples = []
    for index, block in enumerate(found):
        joined = re.sub(r"\\?\s*\n\s*(?=--)", " ", re.sub(r"\\\s*\n\s*", " ", block.text))
        if not joined.startswith(f"aws {service} "):
            continue
        line = joined.splitlines()[0]
        for printed, meant in TYPOS.get((service, command), []):
            line = line.replace(printed, meant)
        argv = [_option_name(arg) for arg in shlex.split(line)[3:]]
        later = found[index + 1 :]
        ends = next((at for at, other in enumerate(later) if other.text.startswith("aws ")), len(later))
        own = later[:ends]
        example = Example(
            service=service,
            command=command,
            operation=operations.get(command),
            argv=argv,
            source=f"{service}/{path.name}#{len(examples) + 1}",
            corrected=line != joined.splitlines()[0] or argv != shlex.split(line)[3:],
        )
        example.files = _files(argv, own, found)
        output = next((other.text for other in own if other.intro.lower().startswith("output")), None)
        if output and output[:1] in "{[":
            try:
                example.output = read_lenient_json(output)
            except ValueError as error:
                example.output_problem = f"the documented output is not JSON ({error})"
        examples.append(example)
    return examples


def _option_name(arg: str) -> str:
    return arg.lower().rstrip(":") if re.fullmatch(r"--[\w-]+:?", arg) else arg


def read_lenient_json(text: str):
    """JSON as the examples write it: with `...` elisions, missing commas between members, trailing commas."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    lines = [line for line in text.splitlines() if line.strip() not in ("...", "....")]
    text = "\n".join(lines)
    text = re.sub(r'(["\d\]}]|true|false|null)(\s*\n\s*)(?=["{\[])', r"\1,\2", text)
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    return json.loads(text)


def _files(argv: list[str], own: list[Block], every: list[Block]) -> dict[str, str]:
    """The content the .rst shows for each file:// argument: the block whose introduction names the file, else
    the first JSON block of the example that is not its output."""
    names = [arg.removeprefix("file://") for arg in argv if arg.startswith("file://")]
    files = {}
    for name in names:
        base = Path(name).name
        named = next((b.text for b in every if base in b.intro and not b.text.startswith("aws ")), None)
        unnamed = next(
            (b.text for b in own if b.text[:1] in "{[" and not b.intro.lower().startswith("output")), None
        )
        if named or unnamed:
            files[name] = named or unnamed
    return files


def all_examples() -> list[Example]:
    """Every example of the five services; those of CLI customisations have no operation."""
    return [
        example
        for service in SERVICES
        for path in sorted((EXAMPLES / service).glob("*.rst"))
        for example in parse(service, path)
    ]


@functools.cache
def _operations(name: str) -> dict[str, str]:
    return {xform_name(operation, "-"): operation for operation in service_model(name).operation_names}


@functools.cache
def service_model(name: str):
    return botocore.session.get_session().get_service_model(name)


def output_shape(example: Example):
    return service_model(SERVICES[example.service]).operation_model(example.operation).output_shape


def shape_differences(documented, actual, shape, path: str = "") -> list[str]:
    """Where `actual`'s key structure differs from `documented`'s, values ignored: a documented key the answer
    lacks, a key the answer has that the model's output shape has not, a value of another kind than the model
    says. Where the documentation disagrees with the model, the model wins; page tokens are the data's."""
    where = path or "the output"
    if shape is None:  # an operation without output
        return [f"{where} has {sorted(actual)}, the model has no output"] if actual else []
    kind = shape.type_name
    expected = {"structure": dict, "map": dict, "list": list}.get(kind)
    if expected and not isinstance(actual, expected):
        return [f"{where} is {type(actual).__name__}, the model says {kind}"]
    if kind == "structure":
        members, documented = shape.members, documented if isinstance(documented, dict) else {}
        missing = [
            f"missing {_join(path, key)}"
            for key in documented
            if key in members and key not in actual and key not in PAGE_TOKENS
        ]
        extra = [f"extra {_join(path, key)}" for key in actual if key not in members]
        nested = [
            difference
            for key in documented
            if key in members and key in actual
            for difference in shape_differences(documented[key], actual[key], members[key], _join(path, key))
        ]
        return missing + extra + nested
    if kind == "list" and isinstance(documented, list) and documented and actual:
        return shape_differences(documented[0], actual[0], shape.member, f"{path}[]")
    return []


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def customisations() -> list[str]:
    """The CLI commands of the examples that are no API operation (the CLI's own customisations, waiters)."""
    own = [
        f"{service} {path.stem}"
        for service, name in SERVICES.items()
        for path in (EXAMPLES / service).glob("*.rst")
        if path.stem not in _operations(name)
    ]
    waiters = [
        f"{service} wait {path.stem}"
        for service in SERVICES
        for path in (EXAMPLES / service).glob("wait/*.rst")
    ]
    return sorted(own + waiters)
