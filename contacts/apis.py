"""HTTP endpoints for /v1/contacts."""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from contacts.filters import ContactFilter
from contacts.models import CONTACT_ID_PATTERN, Contact
from contacts.services import contact_create, contact_delete, contact_update
from portal.drf import (
    APIPolicyMixin,
    CharField,
    EmailField,
    InputSerializer,
    ModelSerializer,
    OptionalEmailOutput,
    OptionalTextOutput,
    RegexField,
    StrictOrderingFilter,
)
from portal.pagination import EnvelopePagination
from portal.tenancy import TenantAPIView

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


class ContactBase(APIPolicyMixin, TenantAPIView):
    model = Contact
    serializer_class = ContactSerializer
    not_found_detail = "Contact not found"
    lookup_pattern = CONTACT_ID_PATTERN


class ContactListView(ContactBase):
    query_params = EnvelopePagination.query_params
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    filterset_class = ContactFilter
    ordering_fields = ["name", "email", "company", "created_at", "updated_at"]
    ordering = ["-created_at"]

    @extend_schema(
        operation_id="contacts_list", tags=["contacts"], responses=ContactSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ContactSerializer(page, many=True).data)

    @extend_schema(
        operation_id="contacts_create",
        tags=["contacts"],
        request=ContactInputSerializer,
        responses={201: ContactSerializer},
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
    @extend_schema(operation_id="contacts_retrieve", tags=["contacts"])
    def get(self, request: Request, contact_id: str) -> Response:
        return Response(ContactSerializer(self.get_object_or_404(contact_id)).data)

    @extend_schema(
        operation_id="contacts_update",
        tags=["contacts"],
        request=ContactInputSerializer(partial=True),
        responses={200: ContactSerializer},
    )
    def patch(self, request: Request, contact_id: str) -> Response:
        contact = self.get_object_or_404(contact_id)
        serializer = ContactInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(serializer.validated_data)
        contact = contact_update(contact=contact, data=data)
        return Response(ContactSerializer(contact).data)

    @extend_schema(operation_id="contacts_destroy", tags=["contacts"], responses={204: None})
    def delete(self, request: Request, contact_id: str) -> Response:
        contact_delete(contact=self.get_object_or_404(contact_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
