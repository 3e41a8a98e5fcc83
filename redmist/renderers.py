"""Renderers for pre-rendered status responses: each cacheable body is rendered once per format (JSON with the
contract's names, MessagePack positional arrays) and cached as bytes; these renderers pass the bytes through.
Anything else (errors) is rendered normally. An Accept header nothing matches gets JSON, never 406."""

from __future__ import annotations

import msgpack
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer

MSGPACK_MEDIA_TYPE = "application/x-msgpack"


class Rendered:
    """One response body in both formats, with its validators."""

    __slots__ = ("json", "msgpack", "etag", "modified")

    def __init__(self, *, json: bytes, msgpack: bytes, etag: str, modified: float) -> None:
        self.json = json
        self.msgpack = msgpack
        self.etag = etag
        self.modified = modified

    def __getstate__(self):
        return (self.json, self.msgpack, self.etag, self.modified)

    def __setstate__(self, state):
        self.json, self.msgpack, self.etag, self.modified = state


class StatusJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, Rendered):
            return data.json
        return super().render(data, accepted_media_type, renderer_context)


class StatusMsgPackRenderer(BaseRenderer):
    media_type = MSGPACK_MEDIA_TYPE
    format = "msgpack"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, Rendered):
            return data.msgpack
        if isinstance(data, (bytes, bytearray)):
            return bytes(data)
        return msgpack.packb(data, use_bin_type=True, default=str)


class FallbackToJsonNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except Exception:
            return renderers[0], renderers[0].media_type
