"""The scheduler watcher: what the scheduler shows about jobs that said nothing.

`probe.py` keeps the aiqu skill's watch process (the only way the supervisor
reaches a scheduler backend); `facts.py` turns one pass's snapshot into facts
(pure); `memory.py` is what the watcher keeps in the service database;
`watcher.py` runs the passes and puts the facts into the jobs' conversations.
"""
