from django.urls import path

from . import views

urlpatterns = [
    path("licences/", views.licence_list, name="licensing-licences"),
    path("licences/import/", views.licence_import, name="licensing-import"),
    path("licences/<int:pk>/", views.licence_detail, name="licensing-licence"),
    path("as-of/", views.as_of, name="licensing-as-of"),
    path("reports/", views.report, name="licensing-report"),
    path("pairs/<int:pk>/updated-version/", views.updated_version, name="licensing-updated-version"),
]
