"""One comment by its ID: GetComment, PostCommentReply, UpdateComment and DeleteCommentContent.

A reply sits where the comment it answers does (the same pull request, commits and location) and names it in
`inReplyTo`. Only a comment's author may change its content. Deleting a comment's content keeps the comment,
marked `deleted`, in its place among the others; a deleted comment can no longer be read alone, changed or
reacted to."""

from ..awsjson import AwsError, now
from .comments import comment_content
from .commentstore import check_not_deleted, comment_id
from .params import optional_string


class CommentEdits:
    """Operations of CodeCommitService (a mixin over CommitComments and CommentReactions)."""

    def get_comment(self, params):
        _, kept = self.comments.find(comment_id(params))
        check_not_deleted(kept)
        return {"comment": self.shown(kept)}

    def post_comment_reply(self, params):
        answered = comment_id(params, "inReplyTo")
        content = comment_content(params)
        token = optional_string(params, "clientRequestToken")
        with self.comments.locked(answered) as (name, parent):
            kept = self.new_comment(name, parent["where"], content, token, answered)
        return {"comment": self.shown(kept)}

    def update_comment(self, params):
        commentid = comment_id(params)
        content = comment_content(params)
        with self.comments.locked(commentid) as (name, kept):
            check_not_deleted(kept)
            comment = kept["comment"]
            if comment["authorArn"] != self.caller():
                raise AwsError(
                    "CommentNotCreatedByCallerException",
                    f"Comment {commentid} is by {comment['authorArn']}: only its author may update it.",
                )
            comment.update(content=content, lastModifiedDate=now())
            self.comments.save(name, kept)
        return {"comment": self.shown(kept)}

    def delete_comment_content(self, params):
        with self.comments.locked(comment_id(params)) as (name, kept):
            check_not_deleted(kept)
            comment = kept["comment"]
            del comment["content"]
            comment.update(deleted=True, lastModifiedDate=now())
            self.comments.save(name, kept)
        return {"comment": self.shown(kept)}
