"""CodeCommit comments on the real local endpoint, through boto3 and the aws CLI's examples: comments on
compared commits, replies, reading, updating and deleting one comment, and emoji reactions. (Comments on pull
requests are in test_codecommit_pulls.py.)"""

import json

import pytest
import test_codecommit_pulls as pulls
from conftest import start_endpoint
from test_codecommit import error_code
from test_codecommit_pulls import caller, example_differences, open_pr, put

from labhelpers.local import process

cc, repo = pulls.cc, pulls.repo  # the fixtures: a client, and a repository with main and feature branches

TEAMMATE = "arn:aws:iam::111122223333:user/teammate"


def commits(cc, name: str) -> dict:
    """The repo fixture's main and feature tips, as a comparison's before and after commits."""
    tips = [
        cc.get_branch(repositoryName=name, branchName=b)["branch"]["commitId"] for b in ("main", "feature")
    ]
    return {"beforeCommitId": tips[0], "afterCommitId": tips[1]}


def stored(endpoint, name: str, comment_id: str):
    return endpoint.layout.repos / f"{name}.git" / "codecommit-comments" / f"{comment_id}.json"


def as_teammate(endpoint, name: str, comment_id: str, change) -> None:
    """Change a stored comment as another user's call would have (locally every call is the lab's user)."""
    path = stored(endpoint, name, comment_id)
    kept = json.loads(path.read_text())
    change(kept)
    path.write_text(json.dumps(kept))


def test_comments_on_compared_commits_are_grouped_by_commits_and_location(cc, endpoint, repo):
    pair = commits(cc, repo)
    where = {"repositoryName": repo, **pair}
    general = cc.post_comment_for_compared_commit(
        **where, content="Why this change?", clientRequestToken="t-1"
    )
    assert general["comment"]["authorArn"] == caller(endpoint)
    assert {key: general[key] for key in where} == where and "location" not in general
    again = cc.post_comment_for_compared_commit(**where, content="Why this change?", clientRequestToken="t-1")
    assert again["comment"]["commentId"] == general["comment"]["commentId"]
    location = {"filePath": "feature.txt", "filePosition": 1, "relativeFileVersion": "AFTER"}
    on_file = cc.post_comment_for_compared_commit(**where, content="Add a test?", location=location)
    assert on_file["location"] == location and on_file["afterBlobId"] and "beforeBlobId" not in on_file
    alone = cc.post_comment_for_compared_commit(
        repositoryName=repo, afterCommitId=pair["afterCommitId"], content="On this commit alone"
    )
    assert "beforeCommitId" not in alone
    cc.post_comment_for_pull_request(
        pullRequestId=open_pr(cc, repo)["pullRequestId"], **where, content="On the pull request"
    )

    data = cc.get_comments_for_compared_commit(**where)["commentsForComparedCommitData"]
    assert [[c["content"] for c in group["comments"]] for group in data] == [
        ["Why this change?"],
        ["Add a test?"],
    ]
    assert data[1]["location"] == location and data[0]["repositoryName"] == repo
    only_after = cc.get_comments_for_compared_commit(repositoryName=repo, afterCommitId=pair["afterCommitId"])
    assert [g["comments"][0]["content"] for g in only_after["commentsForComparedCommitData"]] == [
        "On this commit alone"
    ]
    paged = cc.get_comments_for_compared_commit(**where, maxResults=1)
    assert len(paged["commentsForComparedCommitData"]) == 1 and paged["nextToken"]
    rest = cc.get_comments_for_compared_commit(**where, nextToken=paged["nextToken"])
    assert rest["commentsForComparedCommitData"] == data[1:] and "nextToken" not in rest

    def code(**changes):
        return error_code(cc.post_comment_for_compared_commit, **{**where, "content": "x", **changes})

    assert code(content="") == "CommentContentRequiredException"
    assert code(content="x" * 10241) == "CommentContentSizeLimitExceededException"
    assert code(beforeCommitId=pair["afterCommitId"]) == "BeforeCommitIdAndAfterCommitIdAreSameException"
    assert code(afterCommitId="1" * 40) == "CommitDoesNotExistException"
    assert code(beforeCommitId="abc") == "InvalidCommitIdException"
    assert code(repositoryName=f"{repo}-none") == "RepositoryDoesNotExistException"
    assert code(location={"filePath": "feature.txt", "relativeFileVersion": "BEFORE"}) == (
        "PathDoesNotExistException"
    )
    assert code(location={"filePath": "a", "filePosition": -1}) == "InvalidFilePositionException"
    assert code(content="Other words", clientRequestToken="t-1") == "IdempotencyParameterMismatchException"
    for location in ({"filePath": "feature.txt", "filePosition": "one"}, "feature.txt"):
        status, answer = endpoint.call(
            "CodeCommit_20150413.PostCommentForComparedCommit",
            {**where, "content": "x", "location": location},
            service="codecommit",
        )
        assert (status, answer["__type"]) == (400, "SerializationException")
    listing = cc.get_comments_for_compared_commit
    assert error_code(listing, **where, maxResults=501) == "InvalidMaxResultsException"
    assert error_code(listing, **where, nextToken="nope") == "InvalidContinuationTokenException"
    assert error_code(listing, repositoryName=repo, afterCommitId="2" * 40) == "CommitDoesNotExistException"


def test_replies_updates_and_deleted_content(cc, endpoint, repo):
    where = {"repositoryName": repo, **commits(cc, repo)}
    first = cc.post_comment_for_compared_commit(**where, content="Rename this?")["comment"]
    reply = cc.post_comment_reply(inReplyTo=first["commentId"], content="Done", clientRequestToken="r-1")
    assert reply["comment"]["inReplyTo"] == first["commentId"]
    assert (
        cc.post_comment_reply(inReplyTo=first["commentId"], content="Done", clientRequestToken="r-1") == reply
    )
    # A clientRequestToken is one operation's: the same token posts a comment too.
    other = cc.post_comment_for_compared_commit(**where, content="Done", clientRequestToken="r-1")["comment"]
    assert "inReplyTo" not in other
    cc.delete_comment_content(commentId=other["commentId"])
    thread = cc.get_comments_for_compared_commit(**where)["commentsForComparedCommitData"]
    assert [c["commentId"] for c in thread[0]["comments"][:2]] == [
        first["commentId"],
        reply["comment"]["commentId"],
    ]

    updated = cc.update_comment(commentId=first["commentId"], content="Rename it, please")["comment"]
    assert (
        updated["content"] == "Rename it, please" and updated["lastModifiedDate"] >= first["lastModifiedDate"]
    )
    assert cc.get_comment(commentId=first["commentId"])["comment"] == updated

    deleted = cc.delete_comment_content(commentId=first["commentId"])["comment"]
    assert deleted["deleted"] is True and "content" not in deleted
    assert deleted["commentId"] == first["commentId"] and deleted["authorArn"] == first["authorArn"]
    thread = cc.get_comments_for_compared_commit(**where)["commentsForComparedCommitData"]
    assert [c["deleted"] for c in thread[0]["comments"]] == [True, False, True]
    for call, extra in (
        (cc.get_comment, {}),
        (cc.update_comment, {"content": "again"}),
        (cc.delete_comment_content, {}),
        (cc.put_comment_reaction, {"reactionValue": ":smile:"}),
        (cc.get_comment_reactions, {}),
    ):
        assert error_code(call, commentId=first["commentId"], **extra) == "CommentDeletedException"

    theirs = reply["comment"]["commentId"]
    as_teammate(endpoint, repo, theirs, lambda kept: kept["comment"].update(authorArn=TEAMMATE))
    assert error_code(cc.update_comment, commentId=theirs, content="mine now") == (
        "CommentNotCreatedByCallerException"
    )
    assert error_code(cc.get_comment, commentId="0" * 32) == "CommentDoesNotExistException"
    assert error_code(cc.get_comment, commentId="../x") == "InvalidCommentIdException"
    assert (
        error_code(cc.post_comment_reply, inReplyTo="0" * 32, content="?") == "CommentDoesNotExistException"
    )
    assert error_code(cc.update_comment, commentId=theirs, content="") == "CommentContentRequiredException"
    status, answer = endpoint.call("CodeCommit_20150413.GetComment", {"commentId": ""}, service="codecommit")
    assert (status, answer["__type"]) == (400, "CommentIdRequiredException")


def test_reactions_one_per_user_by_emoji_short_code_or_code_point(cc, endpoint, repo):
    where = {"repositoryName": repo, **commits(cc, repo)}
    comment = cc.post_comment_for_compared_commit(**where, content="Ship it")["comment"]
    assert (comment["callerReactions"], comment["reactionCounts"]) == ([], {})
    me, commentid = caller(endpoint), comment["commentId"]

    cc.put_comment_reaction(commentId=commentid, reactionValue=":thumbsup:")
    shown = cc.get_comment(commentId=commentid)["comment"]
    assert (shown["callerReactions"], shown["reactionCounts"]) == (["THUMBSUP"], {"THUMBSUP": 1})
    cc.put_comment_reaction(commentId=commentid, reactionValue="\U0001f615")  # replaces mine
    as_teammate(endpoint, repo, commentid, lambda kept: kept["reactions"].update({TEAMMATE: "thumbsup"}))
    shown = cc.get_comment(commentId=commentid)["comment"]
    assert (shown["callerReactions"], shown["reactionCounts"]) == (
        ["CONFUSED"],
        {"CONFUSED": 1, "THUMBSUP": 1},
    )

    reactions = cc.get_comment_reactions(commentId=commentid)["reactionsForComment"]
    assert [
        (r["reaction"]["shortCode"], r["reaction"]["unicode"], r["reactionUsers"]) for r in reactions
    ] == [
        ("thumbsup", "U+1F44D", [TEAMMATE]),
        ("confused", "U+1F615", [me]),
    ]
    assert reactions[0]["reaction"]["emoji"] == "\U0001f44d"
    mine = cc.get_comment_reactions(commentId=commentid, reactionUserArn=me)["reactionsForComment"]
    assert [r["reaction"]["shortCode"] for r in mine] == ["confused"]
    paged = cc.get_comment_reactions(commentId=commentid, maxResults=1)
    assert len(paged["reactionsForComment"]) == 1 and paged["nextToken"]

    cc.put_comment_reaction(commentId=commentid, reactionValue="u+2764")
    assert cc.get_comment(commentId=commentid)["comment"]["callerReactions"] == ["HEART"]
    cc.put_comment_reaction(commentId=commentid, reactionValue="none")
    assert cc.get_comment(commentId=commentid)["comment"]["reactionCounts"] == {"THUMBSUP": 1}

    def code(call, **params):
        return error_code(call, **{"commentId": commentid, **params})

    assert code(cc.put_comment_reaction, reactionValue=":party_parrot:") == "InvalidReactionValueException"
    assert code(cc.put_comment_reaction, commentId="0" * 32, reactionValue=":smile:") == (
        "CommentDoesNotExistException"
    )
    assert code(cc.get_comment_reactions, reactionUserArn="teammate") == "InvalidReactionUserArnException"
    assert code(cc.get_comment_reactions, maxResults=1001) == "InvalidMaxResultsException"
    status, answer = endpoint.call(
        "CodeCommit_20150413.PutCommentReaction", {"commentId": commentid}, service="codecommit"
    )
    assert (status, answer["__type"]) == (400, "ReactionValueRequiredException")


def test_comments_and_reactions_survive_a_restart(fresh_endpoint, unique):
    cc = fresh_endpoint.client("codecommit")
    name = f"keep-{unique}"
    cc.create_repository(repositoryName=name)
    after = cc.put_file(repositoryName=name, branchName="main", filePath="a.txt", fileContent=b"a\n")[
        "commitId"
    ]
    comment = cc.post_comment_for_compared_commit(repositoryName=name, afterCommitId=after, content="Kept?")
    cc.put_comment_reaction(commentId=comment["comment"]["commentId"], reactionValue=":hooray:")
    before = cc.get_comment(commentId=comment["comment"]["commentId"])["comment"]
    process.stop(fresh_endpoint.layout)
    again = start_endpoint(fresh_endpoint.layout.root).client("codecommit")
    assert again.get_comment(commentId=before["commentId"])["comment"] == before
    assert before["reactionCounts"] == {"HOORAY": 1}


# -- the CLI's examples ------------------------------------------------------------------------------


@pytest.fixture
def cl_sample(cc, repo) -> dict:
    """The examples' file, cl_sample.js, changed from main to feature, and a comment on it."""
    before = put(cc, repo, "main", "cl_sample.js", b"let a = 1;\n")
    after = put(cc, repo, "feature", "cl_sample.js", b"let a = 2;\n")
    location = {"filePath": "cl_sample.js", "filePosition": 1, "relativeFileVersion": "AFTER"}
    comment = cc.post_comment_for_compared_commit(
        repositoryName=repo, beforeCommitId=before, afterCommitId=after, content="Why 2?", location=location
    )
    return {
        "before_commit_id": before,
        "after_commit_id": after,
        "comment_id": comment["comment"]["commentId"],
    }


def test_comment_cli_examples_answer_the_documented_shape(cc, endpoint, repo, cl_sample):
    commits_of = {key: cl_sample[key] for key in ("before_commit_id", "after_commit_id")}
    commentid = cl_sample["comment_id"]
    assert example_differences(endpoint, "post-comment-for-compared-commit", repo, **commits_of) == []
    assert example_differences(endpoint, "get-comments-for-compared-commit", repo, **commits_of) == []
    assert example_differences(endpoint, "post-comment-reply", repo, in_reply_to=commentid) == []
    assert example_differences(endpoint, "put-comment-reaction", repo, comment_id=commentid) == []
    assert example_differences(endpoint, "get-comment-reactions", repo, comment_id=commentid) == []
    shown = json.loads(endpoint.aws("codecommit", "get-comment-reactions", "--comment-id", commentid).stdout)
    assert shown["reactionsForComment"][0]["reaction"]["shortCode"] == "thumbsup"
    assert example_differences(endpoint, "get-comment", repo, comment_id=commentid) == []
    assert example_differences(endpoint, "update-comment", repo, comment_id=commentid) == []
    assert example_differences(endpoint, "delete-comment-content", repo, comment_id=commentid) == []
