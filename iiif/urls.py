from django.urls import path, re_path

from . import views

urlpatterns = [
    path("<int:pk>", views.image_base, name="iiif-base"),
    path("<int:pk>/info.json", views.image_info, name="iiif-info"),
    re_path(
        r"^(?P<pk>\d+)/(?P<region>[^/]+)/(?P<size>[^/]+)/(?P<rotation>[^/]+)/(?P<quality>[a-z]+)\.(?P<fmt>[a-z0-9]+)$",
        views.image_request,
        name="iiif-image",
    ),
    path("manifest/record/<int:pk>", views.record_manifest, name="iiif-manifest-record"),
    path("manifest/group/<int:pk>", views.group_manifest, name="iiif-manifest-group"),
]
