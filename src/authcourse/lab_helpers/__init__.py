"""What the labs import besides ``check``/``hint``: apps to attack, seeded databases, constants.

Nothing here answers an exercise, and nothing here is a check: the checks import these
helpers too, never the other way round. A lab that imported its helpers from
``authcourse.checks`` would also be one import away from the checks' own private tools
(a learner calling those scores 0 on that exercise: ``authcourse.checks.borrowing``).
"""
