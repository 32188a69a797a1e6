from django.urls import path

from . import api

urlpatterns = [
    path("projects/<int:project_id>/items/", api.ItemListView.as_view(), name="item-list"),
    path(
        "projects/<int:project_id>/items/delete/",
        api.ItemBulkDeleteView.as_view(),
        name="item-bulk-delete",
    ),
    path(
        "projects/<int:project_id>/items/archive/",
        api.ItemBulkArchiveView.as_view(),
        name="item-bulk-archive",
    ),
    path(
        "projects/<int:project_id>/items/priority/",
        api.ItemPriorityView.as_view(),
        name="item-priority",
    ),
    path(
        "projects/<int:project_id>/items/<int:item_id>/",
        api.ItemDetailView.as_view(),
        name="item-detail",
    ),
]
