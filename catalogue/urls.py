from django.urls import path

from . import views

urlpatterns = [
    path("collections/", views.collection_list, name="catalogue-collections"),
    path("collections/new/", views.collection_new, name="catalogue-collection-new"),
    path("collections/<int:pk>/", views.collection_detail, name="catalogue-collection"),
    path("collections/<int:pk>/upload/", views.upload, name="catalogue-upload"),
    path("uploads/<int:pk>/", views.upload_job, name="catalogue-upload-job"),
    path("uploads/<int:pk>/progress/", views.upload_job_progress, name="catalogue-upload-job-progress"),
    path("imports/<int:pk>/", views.import_detail, name="catalogue-import"),
    path("records/<int:pk>/", views.record_detail, name="catalogue-record"),
    path("search/", views.search, name="catalogue-search"),
    path("images/<int:pk>/original", views.image_original, name="catalogue-image-original"),
    path("language/", views.set_language, name="catalogue-set-language"),
]
