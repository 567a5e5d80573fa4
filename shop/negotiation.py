"""Content negotiation that honours the quality values (`q`) of `Accept`.

DRF ranks the media ranges of `Accept` by how specific they are and then takes its
renderers in their order, ignoring `q`: `text/csv;q=1.0, application/json;q=0.1`
answered JSON. Here each renderer gets the quality of the most specific range that
matches it (RFC 9110, 12.5.1); the highest quality wins, a more specific range breaks
a tie, then the view's order of renderers; `q=0` means "not this". `?format=csv` picks
the format outright, whatever `Accept` says; everything else is DRF's.
"""

import re

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.utils.mediatypes import _MediaType

QVALUE = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?")


def quality(media_range):
    """The range's `q` (0 to 1); a missing or malformed one counts as 1."""
    text = str(media_range.params.get("q", "1")).strip()
    return float(text) if QVALUE.fullmatch(text) else 1.0


class ShopContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        format = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        if format:
            renderers = self.filter_renderers(renderers, format)
        ranges = self._get_parsed_accept_list(request)
        best = None
        for position, renderer in enumerate(renderers):
            offered = _MediaType(renderer.media_type)
            matching = [media_range for media_range in ranges if offered.match(media_range)]
            if not matching:
                continue
            closest = max(matching, key=lambda r: (r.precedence, quality(r)))
            if quality(closest) <= 0:
                continue
            rank = (quality(closest), closest.precedence, -position)
            if best is None or rank > best[0]:
                best = (rank, renderer, offered, closest)
        if best is None and format:
            # `?format=` names the answer outright, whatever `Accept` says.
            return renderers[0], renderers[0].media_type
        if best is None:
            raise exceptions.NotAcceptable(available_renderers=renderers)
        _, renderer, offered, accepted = best
        if offered.precedence > accepted.precedence:
            # A wildcard accepted (`*/*`): answer the renderer's own type, with the range's
            # parameters, as DRF does.
            parameters = tuple(f"{key}={value}" for key, value in accepted.params.items())
            return renderer, ";".join((renderer.media_type, *parameters))
        return renderer, accepted.orig
