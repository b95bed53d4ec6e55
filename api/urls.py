from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from licensing import api as licensing_api

from . import partners, views

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
    path("exports/partner/<int:pk>/", partners.PartnerExport.as_view(), name="api-export-partner"),
]
licensing_urls = [
    path("licences/", licensing_api.LicenceList.as_view(), name="api-licences"),
    path("licences/import/", licensing_api.LicenceImport.as_view(), name="api-licence-import"),
    path("licences/reports/", licensing_api.LicenceReport.as_view(), name="api-licence-report"),
    path("licences/<int:pk>/", licensing_api.LicenceDetail.as_view(), name="api-licence"),
    path("as-of/", licensing_api.AsOf.as_view(), name="api-as-of"),
    path("records/<int:pk>/history/", licensing_api.RecordHistory.as_view(), name="api-record-history"),
    path("pairs/<int:pk>/updated-version/", licensing_api.UpdatedVersion.as_view(), name="api-pair-update"),
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
    *licensing_urls,
    *router.urls,
]
