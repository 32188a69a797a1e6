"""The project pages: the project itself and its settings, members and invites, guidelines."""
