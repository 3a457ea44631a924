"""E-mail templates: Jinja2 files per language and, optionally, per sales channel.

Layout (built in under ``templates/``, and the same in ``OPENOMS_MAIL_TEMPLATES_DIR``, which is
searched first): ``<lang>/<name>.subject.txt``, ``<lang>/<name>.txt`` and optionally
``<lang>/<name>.html``; a channel's own versions go in ``channels/<channel>/<lang>/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape

from openoms.domain.notifications import Template, template_paths

BUILT_IN = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None
    language: str  # the language of the body that was found
    source: str  # where the body came from, e.g. "channels/web/de/order_shipped.txt"


class TemplateMissing(Exception):
    """No language in the chain has this template: a packaging error, not a customer's."""


class Templates:
    """Finds and renders templates; HTML is autoescaped, text and subjects are not."""

    def __init__(self, extra_dir: Path | None = None) -> None:
        dirs = [str(extra_dir)] if extra_dir else []
        self.env = Environment(
            loader=FileSystemLoader([*dirs, str(BUILT_IN)]),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def _first(self, paths: list[str]) -> str | None:
        for path in paths:
            try:
                self.env.get_template(path)
            except TemplateNotFound:
                continue
            return path
        return None

    def _body(self, name: Template, languages: list[str], channel: str | None) -> str:
        body = self._first(template_paths(name.value, "txt", languages, channel))
        if body is None:
            raise TemplateMissing(f"no template {name.value!r} for languages {languages}")
        return body

    def language_of(self, name: Template, languages: list[str], channel: str | None) -> str:
        """The first language in ``languages`` that has this template: dates and amounts are
        formatted for it, so that an English fallback does not get French dates."""
        return self._body(name, languages, channel).split("/")[-2]

    def render(self, name: Template, languages: list[str], channel: str | None, context: dict[str, Any]) -> Rendered:
        """Render the best match in ``languages`` order (see ``domain.notifications``)."""
        body = self._body(name, languages, channel)
        language = body.split("/")[-2]
        # Subject and HTML come from the body's language, so one e-mail never mixes languages.
        same_lang = [language]
        subject_path = self._first(template_paths(name.value, "subject.txt", same_lang, channel))
        if subject_path is None:
            raise TemplateMissing(f"template {body!r} has no subject file")
        html_path = self._first(template_paths(name.value, "html", same_lang, channel))
        ctx = {**context, "language": language}
        subject = " ".join(self.env.get_template(subject_path).render(ctx).split())
        text = self.env.get_template(body).render(ctx)
        html = self.env.get_template(html_path).render(ctx) if html_path else None
        return Rendered(subject, text, html, language, body)
