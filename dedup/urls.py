from django.urls import path

from . import views

urlpatterns = [
    path("collections/<int:pk>/policy/", views.collection_policy, name="dedup-collection-policy"),
    path("collections/<int:pk>/progress/", views.collection_progress, name="dedup-collection-progress"),
]
