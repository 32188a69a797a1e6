"""The API calls a reviewer makes."""

from __future__ import annotations


def claim(client, project):
    return client.post(f"/api/v1/projects/{project.pk}/review/claim/")


def resolve(client, review_id: int, **body):
    return client.post(f"/api/v1/reviews/{review_id}/resolve/", body, format="json")


def blind(client, review_id: int, value):
    return client.post(f"/api/v1/reviews/{review_id}/blind/", {"value": value}, format="json")


def adjudicate(client, gold_id: int, **body):
    return client.post(f"/api/v1/gold/{gold_id}/adjudicate/", body, format="json")
