from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("collections", views.CollectionViewSet, basename="api-collection")
router.register("records", views.RecordViewSet, basename="api-record")
router.register("images", views.ImageViewSet, basename="api-image")
router.register("imports", views.ImportViewSet, basename="api-import")
router.register("pairs", views.PairViewSet, basename="api-pair")
router.register("groups", views.GroupViewSet, basename="api-group")
router.register("decisions", views.DecisionViewSet, basename="api-decision")

export_urls = [
    path("exports/mapping/", views.MappingExport.as_view(), name="api-export-mapping"),
    path("exports/exact-duplicates/", views.ExactDuplicatesExport.as_view(), name="api-export-exact"),
    path("exports/premis/", views.PremisExport.as_view(), name="api-export-premis"),
]
urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    path("token/", views.ObtainToken.as_view(), name="api-token"),
    *export_urls,
    *router.urls,
]
