"""A dry run answers the split sizes an export would have and assigns
nothing; a request whose assignment would leave a split with a share empty
for good is refused with 400 naming the split and the group count, through
the API, the Export page and the job (issue 18, item 1)."""

from __future__ import annotations

import hashlib

import pytest
from django.utils import timezone

from exports import job
from exports.models import DatasetVersion, ItemSplit
from items.models import Item
from projects.jobs import run_job
from projects.models import Job
from review.models import GoldRecord
from tests.datasets.exporting import export_now

pytestmark = pytest.mark.django_db

SPEC = {"train": 0.8, "validation": 0.1, "test": 0.1}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def channels_gold(project, channels: list[str], *, start: int = 0) -> list[int]:
    """One consensus gold item per entry, its ``meta.channel`` the entry."""
    texts = [f"message {start + n}" for n in range(len(channels))]
    items = Item.objects.bulk_create(
        [
            Item(
                project=project,
                data={"text": text},
                meta={"channel": channel},
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
                state="gold",
            )
            for text, channel in zip(texts, channels, strict=True)
        ]
    )
    GoldRecord.objects.bulk_create(
        [
            GoldRecord(
                project=project, item=item, value="pos", source="consensus",
                config_version=1, decided_at=timezone.now(),
            )
            for item in items
        ]
    )  # fmt: skip
    return [item.pk for item in items]


def post(client, project, body: dict):
    return client.post(f"/api/v1/projects/{project.pk}/exports/", body, format="json")


def nothing_assigned_or_stored(project) -> None:
    assert not ItemSplit.objects.filter(item__project=project).exists()
    assert not DatasetVersion.objects.filter(project=project).exists()
    assert not Job.objects.filter(project=project, kind="export").exists()
    project.refresh_from_db()
    assert project.split_names == []


def test_three_channels_cannot_fill_three_splits(project, lead, api_for):
    """The issue's case: 23 records in 3 channels, 0.8/0.1/0.1 by channel.
    Before, the export put all 23 in train and validation and test stayed
    empty in every later version."""
    channels_gold(project, [f"ch-{n % 3}" for n in range(23)])
    client = api_for(lead)
    body = {"format": "jsonl", "splits": SPEC, "group_by": "channel"}

    dry = post(client, project, {**body, "dry_run": True})
    assert dry.status_code == 400, dry.content
    answer = dry.json()
    assert answer["splits"] == {
        "test": {"records": 0, "groups": 0, "new_records": 0},
        "train": {"records": 23, "groups": 3, "new_records": 23},
        "validation": {"records": 0, "groups": 0, "new_records": 0},
    }
    reasons = {e["reason"].split(":")[0]: e for e in answer["errors"]}
    assert set(reasons) == {"test would get no records", "validation would get no records"}
    assert all(e["field"] == "splits" for e in answer["errors"])
    assert (
        "only 3 groups by 'channel' for 3 splits"
        in reasons["validation would get no records"]["reason"]
    )
    nothing_assigned_or_stored(project)

    real = post(client, project, body)
    assert real.status_code == 400
    assert real.json()["errors"] == answer["errors"]
    nothing_assigned_or_stored(project)

    # A split meant to stay empty says so with the share 0: accepted.
    alone = {"train": 1.0, "validation": 0.0, "test": 0.0}
    dry = post(client, project, {**body, "splits": alone, "dry_run": True})
    assert dry.status_code == 200 and dry.json()["errors"] == []
    nothing_assigned_or_stored(project)


def test_one_group_is_named_so(project, lead, api_for):
    channels_gold(project, ["only"] * 5)
    body = {"format": "csv", "splits": {"train": 0.5, "test": 0.5}, "group_by": "channel"}
    answer = post(api_for(lead), project, body)
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert error["reason"].startswith(
        "test would get no records: only 1 group by 'channel' for 2 splits (the smallest share "
        "is 0.5)"
    )
    nothing_assigned_or_stored(project)


def test_the_dry_run_is_the_assignment_the_export_makes(project, lead, api_for):
    ids = channels_gold(project, [f"ch-{n % 40}" for n in range(200)])
    client = api_for(lead)
    body = {"format": "jsonl", "splits": SPEC, "group_by": "channel"}

    dry = post(client, project, {**body, "dry_run": True})
    assert dry.status_code == 200, dry.content
    sizes = dry.json()
    assert (sizes["records"], sizes["groups"], sizes["new_records"]) == (200, 40, 200)
    assert sizes["errors"] == [] and sizes["params"]["group_by"] == "channel"
    assert not ItemSplit.objects.filter(item_id__in=ids).exists()

    started = post(client, project, body)
    assert started.status_code == 202
    run_job(started.json()["job"]["id"], job.export_run)
    version = DatasetVersion.objects.get(pk=started.json()["id"])
    assert version.status == "succeeded", version.job.error
    assert version.counts["splits"] == {n: s["records"] for n, s in sizes["splits"].items()}
    channels = dict(Item.objects.filter(pk__in=ids).values_list("pk", "meta__channel"))
    for name, size in sizes["splits"].items():
        assigned = ItemSplit.objects.filter(item_id__in=ids, split=name).values_list("item_id")
        assert len({channels[pk] for (pk,) in assigned}) == size["groups"], name
        assert size["records"] > 0

    # Once assigned, a dry run reads the splits back and assigns nothing new.
    again = post(client, project, {**body, "dry_run": True}).json()
    assert (
        again["splits"] == {n: {**s, "new_records": 0} for n, s in sizes["splits"].items()}
        and again["new_records"] == 0
    )


def test_a_later_export_with_a_few_new_items(project, lead, api_for):
    """Items keep their splits; new items continue the assignment. A later
    export is refused only if a split would still be empty in the whole
    project: two new records in one new channel may all go to train."""
    channels_gold(project, [f"ch-{n % 40}" for n in range(200)])
    version = export_now(project, lead, splits=SPEC, group_by="channel")
    assert version.status == "succeeded", version.job.error
    late = channels_gold(project, ["brand-new", "brand-new"], start=1000)
    dry = post(api_for(lead), project, {"format": "jsonl", "splits": SPEC,
                                        "group_by": "channel", "dry_run": True})  # fmt: skip
    assert dry.status_code == 200, dry.content
    assert dry.json()["new_records"] == 2 and dry.json()["records"] == 202
    later = export_now(project, lead, splits=SPEC, group_by="channel")
    assert later.status == "succeeded", later.job.error
    assert set(ItemSplit.objects.filter(item_id__in=late).values_list("split", flat=True)) <= set(
        SPEC
    )


def test_the_job_refuses_when_the_gold_shrank_since_the_request(project, lead, api_for):
    """The request was fine; by the time the job reads the gold only one
    channel is left. The job fails and its assignment is rolled back."""
    ids = channels_gold(project, [f"ch-{n % 40}" for n in range(200)])
    started = post(api_for(lead), project,
                   {"format": "jsonl", "splits": SPEC, "group_by": "channel"})  # fmt: skip
    assert started.status_code == 202
    keep = ids[0]
    GoldRecord.objects.filter(item_id__in=ids).exclude(item_id=keep).update(excluded=True)
    run_job(started.json()["job"]["id"], job.export_run)
    version = DatasetVersion.objects.select_related("job").get(pk=started.json()["id"])
    assert version.status == "failed"
    assert "would get no records" in version.job.error
    assert not ItemSplit.objects.filter(item_id__in=ids).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dry_run": "yes"}, "dry_run"),
        ({"dry_run": True, "splits": {"train": 0.9}}, "splits"),
        ({"dry_run": True, "group_by": "nope"}, "group_by"),
        ({"dry_run": True, "options": {"include_meta": 1}}, "options.include_meta"),
    ],
)
def test_a_bad_dry_run_is_400_with_the_field(project, lead, api_for, body, field):
    channels_gold(project, ["a", "b"])
    answer = post(api_for(lead), project, {"format": "jsonl", **body})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == field
    nothing_assigned_or_stored(project)


def test_who_may_dry_run(project, lead, annotator, reviewer, outsider, api_for):
    channels_gold(project, ["a", "b"])
    body = {"format": "jsonl", "dry_run": True}
    ok = post(api_for(lead), project, body)
    assert ok.status_code == 200
    assert ok.json()["splits"] == {"all": {"records": 2, "groups": 2, "new_records": 0}}
    for user, status in ((annotator, 403), (reviewer, 403), (outsider, 404), (None, 401)):
        assert post(api_for(user), project, body).status_code == status


# --- the Export page -----------------------------------------------------------------

FORM = {"format": "jsonl", "split_train": "0.8", "split_validation": "0.1",
        "split_test": "0.1", "group_by": "channel"}  # fmt: skip


def test_the_page_previews_the_splits_before_the_export(project, lead, web_for):
    channels_gold(project, [f"ch-{n % 3}" for n in range(23)])
    client = web_for(lead)
    page = client.get(f"/projects/{project.pk}/exports/").content.decode()
    assert 'id="preview-splits"' in page and 'id="split-preview"' in page
    preview_url = f"/projects/{project.pk}/exports/preview/"
    assert f'hx-post="{preview_url}"' in page

    box = client.post(preview_url, FORM, HTTP_HX_REQUEST="true")
    assert box.status_code == 200
    html = box.content.decode()
    assert html.lstrip().startswith('<div id="split-preview"')
    assert '<tr id="preview-train">' in html and "<td data-records>23</td>" in html
    assert '<tr id="preview-validation">' in html and "<td data-groups>0</td>" in html
    assert 'id="split-preview-refused"' in html
    assert "validation would get no records: only 3 groups by &#x27;channel&#x27;" in html
    nothing_assigned_or_stored(project)

    # Without JavaScript: the whole page, the box filled in.
    whole = client.post(preview_url, FORM)
    assert whole.status_code == 400 and 'id="export-form"' in whole.content.decode()
    assert "<td data-records>23</td>" in whole.content.decode()

    # Starting it is refused beside the splits; nothing is assigned.
    started = client.post(f"/projects/{project.pk}/exports/new/", FORM)
    assert started.status_code == 400
    assert "validation would get no records" in started.content.decode()
    nothing_assigned_or_stored(project)

    fine = client.post(preview_url, {**FORM, "group_by": ""}, HTTP_HX_REQUEST="true")
    html = fine.content.decode()
    assert 'id="split-preview-refused"' not in html and "nothing is assigned" in html
    assert '<tr id="preview-test">' in html
    nothing_assigned_or_stored(project)


def test_the_page_preview_shows_bad_fields(project, lead, web_for):
    channels_gold(project, ["a"])
    box = web_for(lead).post(
        f"/projects/{project.pk}/exports/preview/",
        {**FORM, "split_train": "0.5"},
        HTTP_HX_REQUEST="true",
    )
    assert box.status_code == 200
    assert "the shares must sum to 1" in box.content.decode()
