"""The AWS branches of notebook checks, which the notebook runs (local only) never take: each check cell is
run on its own with LAB_BACKEND=aws under moto in-process, the AWS answer it checks given by Stubber. On AWS a
check asserts only what AWS documents."""

import nbformat
import pytest
import test_aws_mode
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from notebook_kit import NOTEBOOKS

from labhelpers import pipelines


@pytest.fixture
def lab(monkeypatch, tmp_path):
    """test_aws_mode's: connect("aws") inside mock_aws, with every route to AWS or a local endpoint closed."""
    yield from test_aws_mode.lab.__wrapped__(monkeypatch, tmp_path)


def cell_source(notebook: str, cell_id: str) -> str:
    cells = nbformat.read(NOTEBOOKS / notebook, as_version=4).cells
    return next(cell.source for cell in cells if cell.get("id") == cell_id)


def misspelt(lab) -> dict:
    """02's broken declaration: Build's input misspelt as SourceOutpt."""
    broken = pipelines.article_pipeline(lab)
    broken["pipeline"]["stages"][1]["actions"][0]["inputArtifacts"][0]["name"] = "SourceOutpt"
    return broken


def run_refusal_check(lab, code: str, message: str) -> None:
    """02's check of CodePipeline's refusal of the misspelt input, with AWS answering `code` and `message`."""
    broken = misspelt(lab)
    codepipeline = lab.client("codepipeline")
    namespace = {
        "lab": lab,
        "codepipeline": codepipeline,
        "broken": broken,
        "problems": pipelines.validate(broken),
        "pipelines": pipelines,
        "ClientError": ClientError,
    }
    with Stubber(codepipeline) as stubber:
        stubber.add_client_error("create_pipeline", code, message)
        exec(cell_source("02_pipeline_json.ipynb", "02-35"), namespace)  # noqa: S102  (the notebook's cell)
        stubber.assert_no_pending_responses()


def test_on_aws_02_checks_that_the_refusal_names_the_artifact_whatever_its_code(lab):
    predicted, _ = pipelines.service_error(pipelines.validate(misspelt(lab)))
    assert predicted != "ValidationException"
    run_refusal_check(lab, "ValidationException", "Input artifact SourceOutpt is not an output of any action")
    with pytest.raises(AssertionError, match="structure is not valid"):  # it shows the answer it got
        run_refusal_check(lab, predicted, "The pipeline structure is not valid")
