"""Contract models of the management API: JSON names and MessagePack key numbers (api-contract §11.5, §11.6).

A `Layout` lists a model's fields by key number. `layout.out(values)` gives a `Keyed` dict (JSON object, or
positional array in MessagePack); `layout.into(body)` turns a request body (JSON object or positional array)
into a dict by JSON name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class Keyed(dict):
    """A dict that MessagePack writes as a positional array in `layout_names` order."""

    layout_names: tuple[str | None, ...] = ()

    def __init__(self, names: tuple[str | None, ...], values: dict):
        super().__init__(values)
        self.layout_names = names


@dataclass(frozen=True)
class Field:
    name: str
    sub: "Layout | None" = None
    many: bool = False


@dataclass(frozen=True)
class Layout:
    fields: tuple[Field | None, ...]

    @property
    def names(self) -> tuple[str | None, ...]:
        return tuple(f.name if f else None for f in self.fields)

    def out(self, values: dict[str, Any]) -> Keyed:
        result: dict[str, Any] = {}
        for f in self.fields:
            if f is None:
                continue
            value = values.get(f.name)
            if f.sub is not None and value is not None:
                value = [f.sub.out(v) for v in value] if f.many else f.sub.out(value)
            result[f.name] = value
        return Keyed(self.names, result)

    def into(self, body: Any, *, path: str = "") -> dict[str, Any]:
        """Accept a JSON object (names matched case-insensitively, as ASP.NET does) or a positional array."""
        from rest_framework.exceptions import ValidationError

        if isinstance(body, list):
            pairs = {f.name: body[i] for i, f in enumerate(self.fields) if f is not None and i < len(body)}
        elif isinstance(body, dict):
            by_lower = {f.name.lower(): f.name for f in self.fields if f is not None}
            pairs = {by_lower[k.lower()]: v for k, v in body.items() if isinstance(k, str) and k.lower() in by_lower}
        else:
            raise ValidationError({path or "body": "Expected an object (JSON) or an array (MessagePack)."})
        for f in self.fields:
            if f is None or f.sub is None or pairs.get(f.name) is None:
                continue
            value = pairs[f.name]
            where = f"{path}.{f.name}" if path else f.name
            if f.many:
                if not isinstance(value, list):
                    raise ValidationError({where: "Expected a list."})
                pairs[f.name] = [f.sub.into(v, path=f"{where}[{i}]") for i, v in enumerate(value)]
            else:
                pairs[f.name] = f.sub.into(value, path=where)
        return pairs


def _layout(*names) -> Layout:
    return Layout(tuple(n if (n is None or isinstance(n, Field)) else Field(n) for n in names))


SCHEDULE_ENTRY = _layout("d", "s", "e", "n")
SCHEDULE = _layout("n", Field("s", SCHEDULE_ENTRY, many=True))
BROADCAST = _layout("c", "u")
LOOP_METADATA = _layout("id", "eventId", "type", "name")

EVENT = _layout(
    "id", "organizationId", "name", "startDate", "endDate", "isActive", "isLive", "eventUrl",
    Field("schedule", SCHEDULE), "enableSourceDataLogging", "trackName", "courseConfiguration", "distance",
    Field("broadcast", BROADCAST), Field("loopsMetadata", LOOP_METADATA, many=True), "isDeleted", "isSimulation",
    "isArchived", "isPrivate", "hideName", "accessCode", "timingSource", "externalConfig",
)
EVENT_SUMMARY = _layout("id", "name", "startDate", "isActive", "isSimulation", "isArchived", "endDate")

X2 = _layout("username", "password", "server")
CLASS_METADATA = _layout("name", "order", "colorHex")
ORGANIZATION = _layout(
    "id", "clientId", "name", "shortName", "website", "logo", "controlLogType", "controlLogParams", None,
    Field("x2", X2), "rMonitorIp", "rMonitorPort", "multiloopIp", "multiloopPort", "orbitsLogsPath",
    "flagtronicsUrl", "flagtronicsApiKey", Field("classes", CLASS_METADATA, many=True),
    "showMultiloopConnection", "showOrbitsLogsConnection", "showControlLogConnection", "showX2Connection",
    "showFlagtronicsConnection", "relayVersion", "relayLastConnected",
)
CONTROL_LOG_STATISTICS = _layout("isConnected", "totalEntries", "isStaleWarning")
# User management (§9): OrganizationDto {id, name, shortName, website, logo, clientId} — contractless, a map.
