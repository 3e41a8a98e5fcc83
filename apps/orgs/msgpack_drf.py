"""JSON and MessagePack for the management REST API (api-contract §2.1, §2.4).

Views return plain data in which contract models are `Keyed` dicts (see apps.orgs.wire). JSON writes them as
objects (bytes as base64, as System.Text.Json does); MessagePack writes them as positional arrays indexed by key
number, holes as nil, datetimes as the timestamp extension. An unmatched Accept falls back to JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import msgpack
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

MSGPACK_MEDIA_TYPE = "application/x-msgpack"


class _Encoder(JSONEncoder):
    def default(self, obj):
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return base64.b64encode(bytes(obj)).decode()
        return super().default(obj)


class ContractJSONRenderer(JSONRenderer):
    encoder_class = _Encoder


def _to_msgpack(value: Any) -> Any:
    from apps.orgs.wire import Keyed

    if isinstance(value, Keyed):
        return [None if name is None else _to_msgpack(value.get(name)) for name in value.layout_names]
    if isinstance(value, dict):
        return {key: _to_msgpack(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_msgpack(item) for item in value]
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, dt.datetime):
        return msgpack.Timestamp.from_datetime(value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc))
    if isinstance(value, dt.date):
        return msgpack.Timestamp.from_datetime(dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc))
    return value


class MessagePackRenderer(BaseRenderer):
    media_type = MSGPACK_MEDIA_TYPE
    format = "msgpack"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return msgpack.packb(_to_msgpack(data), use_bin_type=True, datetime=False)


class MessagePackParser(BaseParser):
    media_type = MSGPACK_MEDIA_TYPE

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return msgpack.unpackb(stream.read(), raw=False, strict_map_key=False, timestamp=3)
        except Exception:
            raise ParseError("The body is not valid MessagePack.") from None


class JsonFallbackNegotiation(DefaultContentNegotiation):
    """An Accept header nothing matches gets JSON, never 406 (as the reference does)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except Exception:
            return renderers[0], renderers[0].media_type
