"""The annotator's pages (the workspace and their history) and the lead's queue pages."""
