"""HTTP endpoints for /v1/contacts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from contacts.filters import ContactFilter
from contacts.models import CONTACT_ID_PATTERN, Contact
from contacts.services import contact_create, contact_delete, contact_update
from portal.http.filters import FilterBackend, StrictOrderingFilter
from portal.http.pagination import EnvelopePagination, as_rows
from portal.http.serializers import (
    CharField,
    EmailField,
    InputSerializer,
    ModelSerializer,
    OptionalEmailOutput,
    OptionalTextOutput,
    RegexField,
)
from portal.http.views import APIPolicyMixin
from portal.tenancy.scoping import TenantAPIView

# 3 to 31 characters after an optional +, no space at either end (spaces would be trimmed).
PHONE_PATTERN = r"^\+?[0-9().\-][0-9 ().\-]{1,29}[0-9().\-]$"


class ContactSerializer(ModelSerializer):
    email = OptionalEmailOutput()
    phone = OptionalTextOutput()
    company = OptionalTextOutput()

    class Meta:
        model = Contact
        fields = ["id", "name", "email", "phone", "company", "created_at", "updated_at"]
        read_only_fields = fields


class ContactInputSerializer(InputSerializer):
    """Optional fields take null or "" to clear them."""

    name = CharField(max_length=200)
    email = EmailField(max_length=254, required=False, allow_blank=True, allow_null=True)
    phone = RegexField(
        PHONE_PATTERN,
        max_length=32,
        required=False,
        allow_blank=True,
        allow_null=True,
        error_messages={"invalid": "Enter a phone number: digits, spaces, + ( ) . -"},
    )
    company = CharField(max_length=200, required=False, allow_blank=True, allow_null=True)


CONTACT_EXAMPLE = {
    "id": "3149debd-eb6b-578e-ac22-9af8e066cde5",
    "name": "Barbara Thompson",
    "email": "barbara.thompson@acme.example.com",
    "phone": "+1 555 000 1246",
    "company": "Wayne Enterprises",
    "created_at": "2026-11-26T23:51:45.672Z",
    "updated_at": "2026-11-26T23:51:45.672Z",
}
CREATE_EXAMPLES = [
    OpenApiExample(
        "A full contact",
        value={
            "name": "Barbara Thompson",
            "email": "barbara.thompson@acme.example.com",
            "phone": "+1 555 000 1246",
            "company": "Wayne Enterprises",
        },
        request_only=True,
    ),
    OpenApiExample("A name alone", value={"name": "Ada Lovelace"}, request_only=True),
    OpenApiExample(
        "The created contact", value=CONTACT_EXAMPLE, response_only=True, status_codes=["201"]
    ),
]
UPDATE_EXAMPLES = [
    OpenApiExample(
        "Change the phone, clear the company",
        value={"phone": "+44 20 7946 0000", "company": None},
        request_only=True,
    ),
    OpenApiExample(
        "The updated contact",
        value={**CONTACT_EXAMPLE, "phone": "+44 20 7946 0000", "company": None},
        response_only=True,
        status_codes=["200"],
    ),
]


class ContactBase(APIPolicyMixin, TenantAPIView):
    model = Contact
    serializer_class = ContactSerializer
    not_found_detail = "Contact not found"
    lookup_pattern = CONTACT_ID_PATTERN


class ContactListView(ContactBase):
    query_params = EnvelopePagination.query_params
    filter_backends = [FilterBackend, StrictOrderingFilter]
    filterset_class = ContactFilter
    ordering_fields = ["name", "email", "company", "created_at", "updated_at"]
    ordering = ["-created_at"]

    @extend_schema(
        operation_id="contacts_list",
        tags=["contacts"],
        summary="List contacts",
        description="The tenant's contacts, newest first unless `ordering` says otherwise "
        "(`name`, `-created_at`, …). `q` searches name, email and company (case-insensitive, "
        "part of a word). Pages take `limit` and "
        "`offset` (up to 10,000) or, at any depth, the `cursor` a page's `next_cursor` gives; "
        "`total` counts every match.",
        responses={
            200: OpenApiResponse(
                ContactSerializer(many=True),
                description="A page of contacts, with the total and the next page's cursor.",
                examples=[OpenApiExample("A page", value=CONTACT_EXAMPLE)],
            )
        },
    )
    def get(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(as_rows(queryset, ContactSerializer().value_sources()))
        return self.get_paginated_response(ContactSerializer(page, many=True).data)

    @extend_schema(
        operation_id="contacts_create",
        tags=["contacts"],
        summary="Create a contact",
        description="Creates a contact for the tenant. Only `name` is required; `email`, "
        '`phone` and `company` are optional (null or "" leaves them empty). Unknown fields '
        "are refused. `Location` gives the new contact's URL.",
        request=ContactInputSerializer,
        responses={201: OpenApiResponse(ContactSerializer, description="The contact, as stored.")},
        examples=CREATE_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        serializer = ContactInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contact = contact_create(tenant=self.tenant, **serializer.validated_data)
        return Response(
            ContactSerializer(contact).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"{request.path}/{contact.pk}"},
        )


class ContactDetailView(ContactBase):
    @extend_schema(
        operation_id="contacts_retrieve",
        tags=["contacts"],
        summary="Get a contact",
        description="One contact by id. Another tenant's contact is not found (404).",
        responses={
            200: OpenApiResponse(
                ContactSerializer,
                description="The contact.",
                examples=[OpenApiExample("A contact", value=CONTACT_EXAMPLE)],
            )
        },
    )
    def get(self, request: Request, contact_id: str) -> Response:
        return Response(ContactSerializer(self.get_object_or_404(contact_id)).data)

    @extend_schema(
        operation_id="contacts_update",
        tags=["contacts"],
        summary="Update a contact",
        description='Changes the fields given and leaves the others; null or "" clears an '
        "optional field. An empty object changes nothing.",
        request=ContactInputSerializer(partial=True),
        responses={200: OpenApiResponse(ContactSerializer, description="The updated contact.")},
        examples=UPDATE_EXAMPLES,
    )
    def patch(self, request: Request, contact_id: str) -> Response:
        contact = self.get_object_or_404(contact_id)
        serializer = ContactInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(serializer.validated_data)
        contact = contact_update(contact=contact, data=data)
        return Response(ContactSerializer(contact).data)

    @extend_schema(
        operation_id="contacts_destroy",
        tags=["contacts"],
        summary="Delete a contact",
        description="Deletes a contact that has no jobs. A contact with jobs is refused with "
        "409 CONFLICT, and nothing is removed: delete or move its jobs first.",
        responses={204: OpenApiResponse(None, description="Deleted; no body.")},
    )
    def delete(self, request: Request, contact_id: str) -> Response:
        contact_delete(contact=self.get_object_or_404(contact_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
