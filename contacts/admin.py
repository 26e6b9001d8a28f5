from __future__ import annotations

import contextlib
import uuid
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import smart_split, unescape_string_literal

from contacts.models import Contact
from contacts.selectors import contact_search


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "email", "company", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["name", "email", "company", "id"]
    search_help_text = "Every word must be in the name, email or company; or a contact's id."
    list_select_related = ["tenant"]
    readonly_fields = ["id", "created_at", "updated_at"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Contact], search_term: str
    ) -> tuple[QuerySet[Contact], bool]:
        """Django's admin search (each word, quotes keep a phrase, in any of the fields) through
        the API's `?q=` match, so it uses the trigram index the same way (contacts/selectors.py);
        the id is matched exactly, as a `LIKE` on it would read every row."""
        for bit in smart_split(search_term):
            if bit[:1] in {'"', "'"} and bit[-1:] == bit[:1]:
                bit = unescape_string_literal(bit)
            matches: Any = contact_search(queryset, bit)  # type: ignore[arg-type]
            with contextlib.suppress(ValueError):  # not an id
                matches |= queryset.filter(pk=uuid.UUID(bit.strip()))
            queryset = matches
        return queryset, False
