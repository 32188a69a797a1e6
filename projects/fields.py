"""The input side's building blocks: a serializer base that refuses what it
does not declare and reports every problem at once, the field classes that
judge a raw JSON value with Accord's own reasons, and ``input_validate``,
the one place a serializer's errors become Accord's ``[{field, reason}]``.

Every field judges the value it was sent, ``null`` included, and says why
it refuses it in the same words the pages show ("must be a whole number
from 1 to 10"); DRF's stock messages ("A valid integer is required.") never
reach a client. Subclassing DRF's typed fields keeps the OpenAPI schema
describing each field by its type.
"""

from __future__ import annotations

import zoneinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from rest_framework import serializers
from rest_framework.fields import SkipField, empty
from rest_framework.settings import api_settings

from accord.api import flatten_errors
from accord.errors import InvalidInput

ValidationError = serializers.ValidationError
MAX_SEED = 2**31 - 1


def input_validate(serializer_class: type[serializers.Serializer], data: Any, **context) -> dict:
    """The validated values of ``data``, or InvalidInput naming each field.

    The API views, the pages' forms and the workspace all validate through
    here, so a refusal reads the same wherever the input came from.
    """
    serializer = serializer_class(data=data, context=context)
    if not serializer.is_valid():
        raise InvalidInput(flatten_errors(serializer.errors))
    return dict(serializer.validated_data)


class InputSerializer(serializers.Serializer):
    """One operation's input. Unknown fields are a 400, never ignored
    (SECURITY.md A3). Every field is judged even when another was refused,
    and then ``check`` runs the rules between fields over those that passed,
    so a form shows every problem at once rather than one group per submit."""

    def run_validation(self, data=empty):
        return self.to_internal_value(data)

    def to_internal_value(self, data) -> dict:
        if not isinstance(data, dict):
            raise ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: ["the body must be a JSON object"]}
            )
        # A form-encoded body (a QueryDict) is judged as the dict of lists it is.
        data = dict(data)
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise ValidationError({str(name)[:100]: ["unknown field"] for name in unknown})
        values: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for field in self._writable_fields:
            try:
                value = field.run_validation(data.get(field.field_name, empty))
            except ValidationError as exc:
                errors[field.field_name] = exc.detail
            except SkipField:
                pass
            else:
                values[field.field_name] = value
        self.check(values, errors)
        if errors:
            raise ValidationError(self._in_field_order(errors))
        return values

    def check(self, values: dict[str, Any], errors: dict[str, Any]) -> None:
        """Rules between fields: add to ``errors``; ``values`` holds the fields
        that passed."""

    def _in_field_order(self, errors: dict[str, Any]) -> dict[str, Any]:
        # "consensus.majority" sits where "consensus" does: the summary in
        # "detail" is the first error, and it stays the one it always was.
        order = list(self.fields)

        def position(name: str) -> int:
            head = name.split(".")[0].split("[")[0]
            return order.index(head) if head in order else len(order)

        return {name: errors[name] for name in sorted(errors, key=position)}


class Judged:
    """A field that judges the raw value itself: ``null`` and a wrong type get
    the field's own reason, and a missing required field "is required"."""

    default_error_messages = {"required": "is required"}

    def run_validation(self, data=empty):
        if data is empty:
            return self.validate_empty_values(data)[1]
        return self.to_internal_value(data)


class WholeNumberField(Judged, serializers.IntegerField):
    """A JSON integer from ``low`` to ``high``: never a string, a float or a bool."""

    def __init__(self, *, low: int, high: int, reason: str, **kwargs: Any) -> None:
        self.low, self.high, self.reason = low, high, reason
        super().__init__(min_value=low, max_value=high, **kwargs)

    def to_internal_value(self, data: Any) -> int | None:
        if data is None and self.allow_null:
            return None
        if not isinstance(data, int) or isinstance(data, bool) or not self.low <= data <= self.high:
            raise ValidationError(self.reason)
        return data


class SeedField(WholeNumberField):
    def __init__(self, **kwargs: Any) -> None:
        reason = f"must be a whole number from 0 to {MAX_SEED}"
        super().__init__(low=0, high=MAX_SEED, reason=reason, **kwargs)


class FlagField(Judged, serializers.BooleanField):
    """true or false, never 1, "yes" or null."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise ValidationError("must be true or false")
        return data


class OneOfField(Judged, serializers.ChoiceField):
    def __init__(self, choices: list[str], **kwargs: Any) -> None:
        self.reason = kwargs.pop("reason", f"must be one of {', '.join(choices)}")
        super().__init__(choices, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or data not in self.choices:
            raise ValidationError(self.reason)
        return data


def text_clean(
    value: Any,
    *,
    max_length: int,
    too_long: str,
    wrong_type: str | None = None,
    required: str | None = None,
    strip: bool = False,
    none_as_blank: bool = True,
) -> str:
    """Free text as PostgreSQL can store it. A NUL character is refused (the
    database would answer it with a 500); ``required`` is the reason an
    empty (or blank) text gets, if it must have content; the length limit
    counts what was sent, before any ``strip``."""
    if value is None and none_as_blank:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(wrong_type or too_long)
    if required is not None and not value.strip():
        raise ValidationError(required)
    if len(value) > max_length:
        raise ValidationError(too_long)
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters")
    return value.strip() if strip else value


class TextField(Judged, serializers.CharField):
    """Free text; see ``text_clean`` for the arguments."""

    def __init__(
        self,
        *,
        max_length: int,
        too_long: str | None = None,
        wrong_type: str | None = None,
        required_reason: str | None = None,
        strip: bool = False,
        none_as_blank: bool = True,
        **kwargs: Any,
    ) -> None:
        self.rules = {
            "max_length": max_length,
            "too_long": too_long or f"must be text of at most {max_length} characters",
            "wrong_type": wrong_type,
            "required": required_reason,
            "strip": strip,
            "none_as_blank": none_as_blank,
        }
        kwargs.setdefault("allow_blank", required_reason is None)
        super().__init__(max_length=max_length, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        return text_clean(data, **self.rules)


def reason_clean(value: Any, *, max_length: int, required: str | None = None) -> str:
    """A person's reason (a skip, an adjudication): stripped text of at most
    ``max_length`` characters without NUL characters; ``null`` is none."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError("must be text")
    value = value.strip()
    if required is not None and not value:
        raise ValidationError(required)
    if len(value) > max_length:
        raise ValidationError(f"is longer than {max_length} characters")
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters")
    return value


def reason_checked(
    value: Any, *, max_length: int, required: str | None = None, field: str = "reason"
) -> str:
    """``reason_clean`` for a service: the same rules, as InvalidInput on
    ``field`` (services are called by pages, the API and scripts alike)."""
    try:
        return reason_clean(value, max_length=max_length, required=required)
    except ValidationError as exc:
        raise InvalidInput(str(exc.detail[0]), field=field) from None


class ReasonField(Judged, serializers.CharField):
    def __init__(self, *, max_length: int, required_reason: str | None = None, **kwargs: Any):
        self.limit, self.required_reason = max_length, required_reason
        super().__init__(max_length=max_length, allow_blank=required_reason is None, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        return reason_clean(data, max_length=self.limit, required=self.required_reason)


class TimeZoneField(Judged, serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or data not in zoneinfo.available_timezones():
            raise ValidationError("is not a known IANA time zone, such as Europe/Berlin")
        return data


class FractionField(Judged, serializers.DecimalField):
    """A fraction from 0 to 1, kept to four places: 0.125, "0.125", never
    true, NaN or Infinity."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            max_digits=5,
            decimal_places=4,
            min_value=0,
            max_value=1,
            coerce_to_string=False,
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> Decimal:
        reason = "must be a fraction from 0 to 1"
        if isinstance(data, bool):
            raise ValidationError(reason)
        try:
            value = Decimal(str(data))
        except (InvalidOperation, ValueError):
            raise ValidationError(reason) from None
        if not value.is_finite() or not 0 <= value <= 1:
            raise ValidationError(reason)
        return value.quantize(Decimal("0.0001"))


class AnyJSONField(Judged, serializers.JSONField):
    """Any JSON value, passed on as sent: its own shape is judged elsewhere
    (a task type judges its config and its values)."""

    def to_internal_value(self, data: Any) -> Any:
        return data
