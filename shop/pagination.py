"""Pagination in headers, so that list bodies stay the JSON arrays old clients expect."""

from django.core.paginator import InvalidPage
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param


class HeaderPagination(PageNumberPagination):
    """`?page=N&page_size=M`; the body is the page's array.

    The response carries `X-Total-Count` and an RFC 8288 `Link` header with
    `first`, `prev`, `next` and `last`. `page_size` is capped at 1000; a page
    past the end is a 404 like any missing resource.
    """

    page_size_query_param = "page_size"
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        paginator = self.django_paginator_class(queryset, page_size)
        page_number = request.query_params.get(self.page_query_param) or 1
        try:
            self.page = paginator.page(page_number)
        except InvalidPage:
            raise NotFound(f"Invalid page {str(page_number)[:20]!r}.") from None
        return list(self.page)

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
