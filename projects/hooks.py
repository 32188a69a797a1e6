"""What projects asks of the apps above it, without importing them.

projects sits below annotation, review and exports: they import it, never
the other way round. Where a project write must start their work (a
requeue, reviews for unresolved items) or a project read needs their
figures, projects calls a hook declared here, and the app that owns the
work connects its function in its ``AppConfig.ready``. A hook nobody
connected is a programming error, raised where it is called (accord/hooks.py).
"""

from __future__ import annotations

from accord.hooks import Provider

# review was off and is on; the items that ended without consensus go to
# review now (review).
review_turned_on = Provider("projects.review_turned_on", arguments=("project",))
# Overlap or order changed; the queue is re-ranked and resized by a job
# (annotation). Returns the job.
queue_requeue = Provider("projects.queue_requeue", arguments=("project", "user", "reason"))
# Every annotation value in the project, streamed, for a config change's
# impact (annotation).
annotation_values = Provider("projects.annotation_values", arguments=("project",))
# [{user, username, annotations, skips}] per annotator (annotation).
annotator_counts = Provider("projects.annotator_counts", arguments=("project",))
# The item states, in order, that the item counts report (items).
item_states = Provider("projects.item_states", arguments=())
