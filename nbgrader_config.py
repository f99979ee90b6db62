"""nbgrader's settings for this lab's notebooks: `make student` releases copies without solutions."""

c = get_config()  # noqa: F821 (nbgrader provides it)

# A student copy keeps the answer cell's `...` placeholders; the solution region between them goes.
# The checks ask for an answer when they meet `...`, so the stub must not raise.
c.ClearSolutions.code_stub = {"python": "# YOUR ANSWER HERE: replace each ... above"}
