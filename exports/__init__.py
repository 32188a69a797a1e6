"""Exports: a request becomes an immutable dataset version written by a job.

One module per step, in the order a request goes through them:

* ``params``: the request's parameters, checked and normalised (400 with the
  field and the reason, nothing stored), and its request key.
* ``start``: ``export_start`` (the request) — with the project's row locked,
  finds the version of the same request key or creates it with its job,
  queued on commit (SECURITY.md E9, F1) — and ``export_preview``, the dry run.
* ``query``: the gold query — the records the filters select, the statement
  that streams them in item order, the submitted annotations beside them.
* ``splits``: stable, stratified, grouped splits, assigned in one statement.
* ``job``: ``export_run`` (the job) reads the gold at a snapshot, assigns
  missing splits in it, streams the records through the format's writers
  (``formats/``) and marks the version succeeded in its final transaction.
* ``bundle``: the version's files — hashed as written, stored, reconciled
  against the manifest (E5), zipped.
* ``datasheet``: what the version's records are, and their agreement.
* ``versions``: reading stored versions; ``manifest_compare`` merges two
  versions' sorted manifests line by line.

The SQL that differs between PostgreSQL and SQLite (the embedded mode) is
accord/sql.py's; nothing here tests the database's vendor.
"""
