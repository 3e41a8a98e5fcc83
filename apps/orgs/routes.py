"""Case-insensitive `{Controller}/{Action}` routes, as ASP.NET matches them (api-contract §2.2).

Django's reverse() cannot handle an inline `(?i)` flag, so each letter becomes a two-letter class instead.
"""

from __future__ import annotations

import re

from django.urls import re_path


def _any_case(text: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in text)


def action(controller: str, name: str, view) -> object:
    return re_path(rf"^{_any_case(controller)}/{_any_case(name)}$", view.as_view(),
                   name=f"{controller.lower()}-{name.lower()}")
