"""``accord demo``: demo users and a sentiment project with 300 reviews.

Everything goes through the same services as the pages and the API. The
passwords are random and printed once (SECURITY.md D2: no default passwords
anywhere); running the command again changes nothing unless asked for new
passwords.
"""

from __future__ import annotations

import random
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from items.services import ItemRow, items_create
from projects import services
from projects.models import Project

User = get_user_model()

PROJECT_NAME = "Demo: review sentiment"
LEAD = "demo-lead"
MEMBERS = {
    "demo-annotator1": ["annotator"],
    "demo-annotator2": ["annotator"],
    "demo-reviewer": ["reviewer"],
}
ITEM_COUNT = 300
SEED = 2024  # a fixed seed: every installation gets the same demo items

CONFIG = {
    "multi_label": False,
    "labels": [
        {
            "key": "pos",
            "name": "Positive",
            "hotkey": "p",
            "color": "#2e7d32",
            "description": "The reviewer is satisfied overall.",
        },
        {
            "key": "neg",
            "name": "Negative",
            "hotkey": "n",
            "color": "#c62828",
            "description": "The reviewer is dissatisfied overall.",
        },
        {
            "key": "neu",
            "name": "Neutral",
            "hotkey": "u",
            "color": "#616161",
            "description": "No opinion, or praise and complaint that cancel out.",
        },
    ],
}

GUIDELINES = """\
# Review sentiment

Label each product review with the **overall** feeling of its author about
the product.

| label | hotkey | use it when |
| --- | --- | --- |
| Positive | `p` | the author is satisfied and would buy again or recommend it |
| Negative | `n` | the author is dissatisfied: it broke, disappointed, was returned |
| Neutral | `u` | the review states facts without an opinion |

## Mixed reviews

Many reviews praise one thing and complain about another. Ask which side the
author ends up on:

- "Great sound, but it broke after a week" is **Negative**: a broken product
  outweighs a good feature.
- "A bit heavy, but I use it every day and love it" is **Positive**.
- If you honestly cannot tell, choose **Neutral**; do not guess.

## What to ignore

- Delivery and packaging, unless they are the only thing the review is about.
- Spelling, tone and length: a short "Fine." is as valid as a paragraph.

When in doubt, skip the item with a reason rather than guessing; the
reviewer sees every disagreement.
"""

PRODUCTS = [
    "pair of headphones",
    "coffee grinder",
    "desk lamp",
    "backpack",
    "kettle",
    "phone case",
    "office chair",
    "blender",
    "e-reader",
    "yoga mat",
    "water bottle",
    "keyboard",
    "air fryer",
    "rain jacket",
    "travel mug",
]
WHEN = ["last week", "a month ago", "in the spring", "two days ago", "before my trip"]
DURATION = ["two days", "a week", "three weeks", "a month", "ten days"]
GOOD = ["sturdy", "quiet", "well made", "easy to clean", "comfortable", "light", "good value"]
BAD = ["flimsy", "noisy", "overpriced", "hard to clean", "uncomfortable", "heavy", "cheaply made"]
PRAISE = [
    "I use it every single day.",
    "My partner ordered one too.",
    "Worth every penny.",
    "I would buy it again without thinking.",
    "It feels like it will last for years.",
]
COMPLAINT = [
    "the battery barely lasts a day",
    "the seams started to come apart",
    "it smells of plastic",
    "the buttons stick",
    "it leaks when tilted",
    "the instructions are useless",
]
FACTS = [
    "It comes in three colours.",
    "The box held the {product} and a short manual.",
    "It weighs about what the listing says.",
    "I have not used it much yet.",
    "It replaced an older model.",
]

TEMPLATES = {
    "pos": [
        "I love this {product}. {praise}",
        "Bought the {product} {when} and it is {good} and {good2}. {praise}",
        "Exactly what I hoped for: the {product} is {good}.",
        "Five stars. The {product} is {good}, and {praise_lc}",
    ],
    "neg": [
        "The {product} stopped working after {duration}. Very disappointed.",
        "Do not buy this {product}: it is {bad} and {bad2}.",
        "I returned the {product} {when} because {complaint}.",
        "After {duration} of use, {complaint}. The {product} is {bad}.",
    ],
    "neu": [
        "The {product} arrived {when}. It does what the description says.",
        "It is an ordinary {product}. {fact}",
        "Got the {product} {when}. {fact}",
    ],
    "mixed": [
        "The {product} is {good}, but {complaint}.",
        "The {product} is {bad}, but {praise_lc}",
        "Nice {product}, {good} even, though after {duration} {complaint}.",
    ],
}
KIND_WEIGHTS = {"pos": 35, "neg": 30, "neu": 20, "mixed": 15}


def review_texts(count: int = ITEM_COUNT, seed: int = SEED) -> list[tuple[str, str]]:
    """``count`` distinct (product, review) pairs, the same on every run."""
    rng = random.Random(seed)  # noqa: S311 - demo text, not a secret
    kinds, weights = zip(*KIND_WEIGHTS.items(), strict=True)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < count:
        kind = rng.choices(kinds, weights)[0]
        product = rng.choice(PRODUCTS)
        good, good2 = rng.sample(GOOD, 2)
        bad, bad2 = rng.sample(BAD, 2)
        praise = rng.choice(PRAISE)
        slots = {
            "product": product,
            "when": rng.choice(WHEN),
            "duration": rng.choice(DURATION),
            "good": good,
            "good2": good2,
            "bad": bad,
            "bad2": bad2,
            "praise": praise,
            # "I" stays upper case mid-sentence.
            "praise_lc": praise if praise.startswith("I ") else praise[0].lower() + praise[1:],
            "complaint": rng.choice(COMPLAINT),
            "fact": rng.choice(FACTS).format(product=product),
        }
        text = rng.choice(TEMPLATES[kind]).format(**slots)
        if text not in seen:
            seen.add(text)
            out.append((product, text))
    return out


def _new_password() -> str:
    return secrets.token_urlsafe(15)


class Command(BaseCommand):
    help = (
        "Create demo users (random passwords, printed once) and a sentiment project "
        "with 300 synthetic reviews. Running it again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="give the demo users new passwords and print them",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            lead = _user_ensure(LEAD)
            # Lock the lead's row: two demo commands at once on PostgreSQL
            # must not both find no project and create two (SQLite's
            # IMMEDIATE transactions serialise them already).
            lead = User.objects.select_for_update().get(pk=lead.pk)
            project = Project.objects.filter(name=PROJECT_NAME, created_by=lead).first()
            if project is not None and not options["reset_passwords"]:
                self.stdout.write(
                    f"The demo already exists (project {project.pk}, {PROJECT_NAME!r}); "
                    "nothing changed. Run with --reset-passwords to get new passwords."
                )
                return
            members = {name: _user_ensure(name) for name in MEMBERS}
            if project is None:
                project = _project_create(lead, members)
                self.stdout.write(
                    f"Created the demo project {PROJECT_NAME!r} (project {project.pk}) "
                    f"with {project.items.count()} items."
                )
            passwords = {user.username: _password_reset(user) for user in [lead, *members.values()]}
        self._print_passwords(passwords)

    def _print_passwords(self, passwords: dict[str, str]) -> None:
        self.stdout.write(
            "Demo users (the passwords are shown only now; sign in at /accounts/login/):"
        )
        width = max(map(len, passwords))
        for username, password in passwords.items():
            self.stdout.write(f"  {username:<{width}}  {password}")


def _user_ensure(username: str):
    user, _ = User.objects.get_or_create(username=username, defaults={"is_active": True})
    return user


def _password_reset(user) -> str:
    # A password change also revokes the user's API tokens (SECURITY.md).
    password = _new_password()
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    return password


def _project_create(lead, members: dict[str, Any]) -> Project:
    project = services.project_create(
        user=lead,
        name=PROJECT_NAME,
        task_type="classification",
        config=CONFIG,
        description="Synthetic product reviews to try Accord with: label each one's sentiment.",
    )
    for username, roles in MEMBERS.items():
        services.membership_set(project=project, user=members[username], roles=roles)
    services.guideline_publish(project=project, user=lead, note="First version", body=GUIDELINES)
    rows = [
        ItemRow(
            data={"text": text},
            external_id=f"demo-{number:04d}",
            meta={"product": product, "source": "synthetic"},
        )
        for number, (product, text) in enumerate(review_texts(), start=1)
    ]
    items_create(project=project, rows=rows, config=services.project_config(project).config)
    return project
