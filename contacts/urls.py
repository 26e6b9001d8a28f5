from __future__ import annotations

from django.urls import path

from contacts.apis import ContactDetailView, ContactListView

urlpatterns = [
    path("contacts", ContactListView.as_view(), name="contact-list"),
    path("contacts/<str:contact_id>", ContactDetailView.as_view(), name="contact-detail"),
]
