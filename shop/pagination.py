"""Pagination in headers, so that list bodies stay the JSON arrays old clients expect."""

from django.core.paginator import InvalidPage
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from shop.params import is_ascii_digits


class HeaderPagination(PageNumberPagination):
    """`?page=N&page_size=M`; the body is the page's array.

    The response carries `X-Total-Count` and an RFC 8288 `Link` header with
    `first`, `prev`, `next` and `last`. `page` is a number in ASCII digits or
    `last` (DRF's word for the last page); anything else, and a page past the end,
    is a 404 like any missing resource. `page_size` is capped at 1000; one that is
    not ASCII digits is ignored (the default applies), as DRF does with nonsense.
    """

    page_size_query_param = "page_size"
    max_page_size = 1000

    @classmethod
    def requested_page(cls, request):
        """The `page` asked for: a number, `"last"`, or None when it can never be a page."""
        page = request.query_params.get(cls.page_query_param) or "1"
        if page in cls.last_page_strings:
            return "last"
        if is_ascii_digits(page) and int(page) >= 1:
            return int(page)
        return None

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        paginator = self.django_paginator_class(queryset, page_size)
        page_number = self.requested_page(request)
        if page_number == "last":
            page_number = paginator.num_pages
        try:
            if page_number is None:
                raise InvalidPage
            self.page = paginator.page(page_number)
        except InvalidPage:
            asked = request.query_params.get(self.page_query_param, "")
            raise NotFound(f"Invalid page {asked[:20]!r}.") from None
        return list(self.page)

    def get_page_size(self, request):
        asked = request.query_params.get(self.page_size_query_param, "")
        if not (is_ascii_digits(asked) and int(asked) >= 1):
            return self.page_size
        return min(int(asked), self.max_page_size)

    def get_paginated_response(self, data):
        return Response(data, headers=self.get_headers())

    def get_headers(self):
        paginator = self.page.paginator
        return {
            "X-Total-Count": str(paginator.count),
            "Link": ", ".join(
                f'<{url}>; rel="{rel}"' for rel, url in self.get_links(paginator.num_pages)
            ),
        }

    def get_links(self, last_page):
        url = self.request.build_absolute_uri()
        number = self.page.number
        links = [("first", remove_query_param(url, self.page_query_param))]
        if self.page.has_previous():
            links.append(("prev", self.page_url(url, number - 1)))
        if self.page.has_next():
            links.append(("next", self.page_url(url, number + 1)))
        links.append(("last", self.page_url(url, last_page)))
        return links

    def page_url(self, url, number):
        if number == 1:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, number)

    def get_paginated_response_schema(self, schema):
        return schema
