"""Backups of the whole database, and their restore (`flask --app app backup create|restore`).

Read top-down:

* ``format.py``   the backup file: a header, then compressed content sealed in AES-256-GCM
  chunks under a key of its own (the backup key); ``BackupError``, what every refusal raises.
* ``snapshot.py`` what goes into that content: every table in one consistent snapshot, values
  as their column types write them (so SQLite and PostgreSQL restore each other's), and the
  restore into an empty database; the layers above take part through ``protection.signals``.
* ``verify.py``   the restore drill (``backup verify``): the file read as a restore reads it,
  its keys, references and audit chain checked, nothing connected to; the outcome in
  ``<instance>/backup-verify.json``.
* ``cli.py``      the ``backup`` command group that the factory registers (protection/cli.py).
"""
