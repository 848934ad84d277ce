"""Whether a push waiting for a commit would have been sent by now, inside a test case too.

A sync push made inside ``transaction.atomic()`` waits for the commit (``livepush._publish``'s
:class:`~livepush._publish.DeferredPush`, an ``on_commit`` callback). Django's ``TestCase`` and
pytest-django's ``db`` fixture run each test inside atomic blocks of their own that are rolled
back at the end, so those callbacks never run. There a push counts as committed once the code
that made it has left its own atomic blocks without a rollback: the test's blocks stand in for
autocommit, as they do for ``atomic(durable=True)``.

Rollbacks need no bookkeeping here: Django drops the callbacks of a rolled-back block (a
savepoint rollback filters ``connection.run_on_commit``), so a push whose callback is gone was
rolled back or has been sent.
"""

from __future__ import annotations

from typing import Any, Literal

from livepush._publish import DeferredPush

__all__ = ["CommitState", "commit_state"]

#: ``"committed"``: send it now; ``"waiting"``: its transaction is open (or will roll back);
#: ``"gone"``: it was sent, or rolled back, and never will be.
CommitState = Literal["committed", "waiting", "gone"]


def commit_state(push: DeferredPush) -> CommitState:
    """Where ``push`` stands, as far as the test's code can tell.

    ``"committed"`` only inside a test case's transaction (its outermost atomic block is the
    test case's), when no atomic block opened since the push was made is still open and the
    transaction is not marked for rollback. A real transaction (``TransactionTestCase``,
    ``transactional_db``, outside tests) sends its pushes itself when it commits.
    """
    if push.sent:
        return "gone"
    connection = push.connection
    entry = next(
        (e for e in connection.run_on_commit if getattr(e[1], "__self__", None) is push), None
    )
    if entry is None:
        return "gone"
    blocks: list[Any] = connection.atomic_blocks
    if not blocks or not _from_testcase(blocks[0]) or connection.needs_rollback:
        return "waiting"
    if all(_from_testcase(block) for block in blocks):
        return "committed"
    # Inside an atomic block of the test's own: committed if every savepoint open when the push
    # was made is the test case's or has been released since. (A block without a savepoint,
    # ``atomic(savepoint=False)``, cannot be told apart once left: wait for the outermost.)
    # Every block but the outermost has an entry in savepoint_ids, None without a savepoint.
    open_ids: list[str | None] = list(connection.savepoint_ids)
    test_ids = {
        sid for block, sid in zip(blocks[1:], open_ids, strict=True) if _from_testcase(block)
    }
    made_in: set[str | None] = entry[0]
    released = all(sid in test_ids or (sid is not None and sid not in open_ids) for sid in made_in)
    return "committed" if released else "waiting"


def _from_testcase(block: Any) -> bool:
    # Django marks the atomic blocks TestCase opens (and so pytest-django's ``db``) this way, for
    # the same reason: ``atomic(durable=True)`` treats them as the absence of a transaction.
    return bool(getattr(block, "_from_testcase", False))
