from django.urls import path

from . import api

urlpatterns = [
    path("projects/<int:project_id>/agreement/", api.AgreementView.as_view(), name="agreement"),
]
